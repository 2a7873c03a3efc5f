"""A local gateway built from the real parts as separate processes: simulator replicas (``python -m sim``),
the picker (``python -m picker --endpoints-file``) and Envoy (``infgw.envoy``). Every part can be killed
and restarted on its own port: the soak and the reliability tests (tests/reliability/) drive it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from picker.profiles import profile_text

from infgw.envoy import BodyMode, EnvoyBootstrapSpec, EnvoyProcess, PickerConnection, build_bootstrap
from infgw.envoy.spec import DestinationRouting

STARTUP_TIMEOUT_S = 90.0  # a shared 2-core CI box can take tens of seconds to import
_PICKER_SERVING = re.compile(r"picker serving: ext_proc=[^:]+:(\d+) tls=\w+ health=(\d+) metrics=(\d+)")
# Envoy retries these on the next host of the picker's list: a refused connection, a refused HTTP/2
# stream, and a reset before any response byte (a replica killed with the request in flight).
RETRY_ON = ("connect-failure", "refused-stream", "reset")


def picker_config(
    max_endpoints: int, admission: dict[str, Any] | None = None, prefix_lru_capacity: int | None = None
) -> str:
    """The shipped EPP default profile (``picker.profiles``) with the picker returning ``max_endpoints``
    (primary + fallbacks); ``admission`` adds top-level keys such as ``saturationDetector`` and
    ``flowControl``; ``prefix_lru_capacity`` sets the prefix-cache scorer's ``lruCapacityPerServer``."""
    document: dict[str, Any] = yaml.safe_load(profile_text("default"))
    for plugin in document["plugins"]:
        if plugin["type"] == "prefix-cache-scorer" and prefix_lru_capacity is not None:
            plugin["parameters"] = {**plugin.get("parameters", {}), "lruCapacityPerServer": prefix_lru_capacity}
    document["plugins"].append({"type": "max-score-picker", "parameters": {"maxNumOfEndpoints": max_endpoints}})
    for profile in document["schedulingProfiles"]:
        profile["plugins"].append({"pluginRef": "max-score-picker"})
    return yaml.safe_dump({**(admission or {}), **document}, sort_keys=False)


@dataclass
class ChildProcess:
    """One child process with its log file; stop() always reaps it."""

    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else "(no log)"

    def wait_for_log(self, pattern: re.Pattern[str], after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log past byte ``after``; fails fast if the child exits."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")[after:] if self.log_path.exists() else ""
            match = pattern.search(text)
            if match:
                return match
            if not self.alive():
                raise RuntimeError(f"{self.name} exited during start-up: {self.log_tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {STARTUP_TIMEOUT_S} s: {self.log_tail()}")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def kill(self) -> None:
        """SIGKILL: a crash, no drain."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 10 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def rss_kib(self) -> int:
        """Resident set size from /proc (Linux), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")


_SIM_LISTENING = re.compile(r'"event": "listening".*?"port": (\d+)')
_FAKE_LISTENING = re.compile(r"fake replica listening on (\d+)")


@dataclass
class Replica:
    """A model server process: the simulator, or the purpose-built fake replica."""

    child: ChildProcess
    port: int = 0
    kind: str = "sim"
    _log_offset: int = 0

    @property
    def name(self) -> str:
        return self.child.name

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostport}"

    def spawn(self) -> None:
        self._log_offset = self.child.log_size()
        self.child.spawn()

    def wait_listening(self) -> None:
        pattern = _SIM_LISTENING if self.kind == "sim" else _FAKE_LISTENING
        self.port = int(self.child.wait_for_log(pattern, self._log_offset).group(1))

    def start(self) -> Replica:
        self.spawn()
        self.wait_listening()
        return self

    def restart_on_same_port(self) -> None:
        """Start again where it was (the picker and Envoy know it by address)."""
        self.child.stop()
        command = self.child.command
        index = command.index("--port")
        command[index + 1] = str(self.port)
        self.start()

    def control(self, **settings: Any) -> None:
        """Switch a fake replica's behaviour (mode, delays) at run time."""
        assert self.kind == "fake", "only fake replicas take control requests"
        request = urllib.request.Request(
            self.url + "/control", data=json.dumps(settings).encode(), method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def stats(self) -> dict[str, Any]:
        """A fake replica's behaviour and the requests it served since the last control call."""
        assert self.kind == "fake", "only fake replicas report stats"
        with urllib.request.urlopen(self.url + "/control", timeout=5) as response:
            return dict(json.loads(response.read()))


def sim_replica(work_dir: Path, name: str, *sim_args: str) -> Replica:
    command = [
        sys.executable, "-m", "sim", "--host", "127.0.0.1", "--port", "0", "--name", name,
        "--seed", "7", "--log-level", "warning", *sim_args,
    ]  # fmt: skip
    return Replica(ChildProcess(name, command, work_dir / f"{name}.log"))


def fake_replica(work_dir: Path, name: str, script: Path) -> Replica:
    """A purpose-built replica script that prints ``fake replica listening on PORT`` and takes
    ``--port``/``--name`` (tests/reliability/fake_replica.py)."""
    command = [sys.executable, str(script), "--port", "0", "--name", name]
    return Replica(ChildProcess(name, command, work_dir / f"{name}.log"), kind="fake")


@dataclass
class Picker:
    """``python -m picker`` on a static endpoints file, plain-text gRPC (Envoy and picker on loopback)."""

    work_dir: Path
    replicas: Sequence[Replica]
    objectives: dict[str, int] = field(default_factory=dict)
    max_endpoints: int = 1
    extra_args: tuple[str, ...] = ()
    admission: dict[str, Any] | None = None
    prefix_lru_capacity: int | None = None
    grpc_port: int = 0
    metrics_port: int = 0
    child: ChildProcess | None = None

    def write_endpoints(self, replicas: Sequence[Replica] | None = None) -> None:
        document = {
            "endpoints": [
                {"name": r.name, "address": "127.0.0.1", "port": r.port} for r in (replicas or self.replicas)
            ],
            "objectives": [{"name": n, "priority": p} for n, p in self.objectives.items()],
        }
        (self.work_dir / "endpoints.yaml").write_text(yaml.safe_dump(document))

    def start(self) -> Picker:
        self.write_endpoints()
        command = [
            sys.executable, "-m", "picker",
            "--endpoints-file", str(self.work_dir / "endpoints.yaml"),
            "--config-text", picker_config(self.max_endpoints, self.admission, self.prefix_lru_capacity),
            "--bind-address", "127.0.0.1",
            # A restart reuses the ports Envoy was configured with.
            "--grpc-port", str(self.grpc_port), "--grpc-health-port", "0",
            "--metrics-port", str(self.metrics_port),
            "--secure-serving=false",
            "--refresh-metrics-interval", "50ms",
            "--refresh-prometheus-metrics-interval", "50ms",
            "--shutdown-grace-period", "1s",
            "--seed", "7",
            *self.extra_args,
        ]  # fmt: skip
        self.child = self.child or ChildProcess("picker", command, self.work_dir / "picker.log")
        self.child.command = command
        offset = self.child.log_size()
        self.child.spawn()
        match = self.child.wait_for_log(_PICKER_SERVING, offset)
        self.grpc_port, _, self.metrics_port = map(int, match.groups())
        return self

    def metrics(self) -> dict[str, float]:
        """The picker's Prometheus samples, keyed by the full sample name with labels."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def ready_pods(self) -> int:
        return int(
            next((v for k, v in self.metrics().items() if k.startswith("inference_pool_ready_pods")), -1)
        )


def gateway_bootstrap(
    picker: Picker,
    replicas: Sequence[Replica],
    *,
    fail_open: bool = False,
    retry_path: bool = True,
    route_timeout_s: float = 0.0,
) -> dict[str, Any]:
    """The infgw.envoy bootstrap for this gateway.

    ``retry_path`` selects Envoy's override-host routing over the replicas, which connects to the first
    address of the picker's comma-separated list and, on each retry, to the next one; without it,
    ORIGINAL_DST connects to the primary only (one address, no fallback).
    """
    spec = EnvoyBootstrapSpec(
        picker=PickerConnection(
            port=picker.grpc_port,
            tls=False,
            failure_mode_allow=fail_open,
            request_body_mode=BodyMode.BUFFERED if fail_open else BodyMode.FULL_DUPLEX_STREAMED,
            primary_destination_only=not retry_path,
            message_timeout_s=5.0,
            grpc_timeout_s=2.0,
        ),
        endpoints=tuple(r.hostport for r in replicas),
        destination_routing=DestinationRouting.OVERRIDE_HOST
        if retry_path
        else DestinationRouting.ORIGINAL_DST,
        num_retries=3,
        retry_on=RETRY_ON,
        route_timeout_s=route_timeout_s,
        connect_timeout_s=0.25,
    )
    return build_bootstrap(spec)


@dataclass
class GatewayUnderTest:
    """Replicas, the picker and one or more Envoys in front of it; stop() stops everything it started."""

    replicas: list[Replica]
    picker: Picker
    envoys: dict[str, EnvoyProcess]

    def url(self, envoy: str = "main") -> str:
        return f"http://127.0.0.1:{self.envoys[envoy].listener_port}"

    def children(self) -> list[ChildProcess]:
        found = [r.child for r in self.replicas]
        if self.picker.child is not None:
            found.append(self.picker.child)
        return found

    def stop(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        for child in self.children():  # signal all first: they drain in parallel
            if child.alive():
                assert child.process is not None
                child.process.terminate()
        for child in self.children():
            child.stop()

    def leftover_processes(self) -> list[str]:
        return [c.name for c in self.children() if c.alive()]


def start_gateway(
    work_dir: Path,
    replicas: list[Replica],
    *,
    objectives: dict[str, int] | None = None,
    max_endpoints: int = 1,
    envoys: dict[str, dict[str, Any]] | None = None,
    picker_args: tuple[str, ...] = (),
    admission: dict[str, Any] | None = None,
    prefix_lru_capacity: int | None = None,
) -> GatewayUnderTest:
    """Replicas, then the picker, then each Envoy (``envoys``: name -> gateway_bootstrap keywords)."""
    picker = Picker(
        work_dir, replicas, objectives or {}, max_endpoints, picker_args, admission, prefix_lru_capacity
    )
    gateway = GatewayUnderTest(replicas, picker, {})
    try:
        for replica in replicas:  # all at once: start-up is mostly Python imports
            replica.spawn()
        for replica in replicas:
            replica.wait_listening()
        picker.start()
        for name, options in (envoys or {"main": {}}).items():
            envoy = EnvoyProcess(gateway_bootstrap(picker, replicas, **options))
            gateway.envoys[name] = envoy
            envoy.start()
        wait_until(lambda: picker.ready_pods() == len(replicas), "picker sees every replica")
    except BaseException:
        gateway.stop()
        raise
    return gateway


def wait_until(condition: Any, what: str, timeout_s: float = 15.0, interval_s: float = 0.02) -> float:
    """Poll ``condition`` until true; returns the seconds it took. Fails with ``what`` on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if condition():
                return time.monotonic() - start
        except OSError:
            pass  # a process restarting: its port is briefly closed
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting until {what}")
