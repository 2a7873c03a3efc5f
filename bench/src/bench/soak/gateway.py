"""A local gateway built from the real parts as separate processes, started with the launcher
(``infgw.launch``): simulator replicas, the picker on a static endpoints file and Envoy. Every part can be
killed and restarted on its own port: the soak and the reliability tests (tests/reliability/) drive it."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from picker.datastore.endpoints_file import StaticEndpoint, StaticPoolFile
from picker.profiles import profile_text

from infgw.envoy import BodyMode, EnvoyBootstrapSpec, PickerConnection, build_bootstrap
from infgw.envoy.spec import DestinationRouting
from infgw.launch.child_process import ChildProcess
from infgw.launch.envoy_process import EnvoyProcess
from infgw.launch.picker_process import PickerProcess
from infgw.launch.replica_process import ReplicaProcess

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


class Replica(ReplicaProcess):
    """A model server process: the simulator, or the purpose-built fake replica (which takes control
    requests)."""

    def control(self, **settings: Any) -> None:
        """Switch a fake replica's behaviour (mode, delays) at run time."""
        request = urllib.request.Request(
            self.url + "/control", data=json.dumps(settings).encode(), method="POST",
            headers={"content-type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def stats(self) -> dict[str, Any]:
        """A fake replica's behaviour and the requests it served since the last control call."""
        with urllib.request.urlopen(self.url + "/control", timeout=5) as response:
            return dict(json.loads(response.read()))


def sim_replica(work_dir: Path, name: str, *sim_args: str) -> Replica:
    return Replica(name, work_dir / f"{name}.log", ["--seed", "7", "--log-level", "warning", *sim_args])


def fake_replica(work_dir: Path, name: str, script: Path) -> Replica:
    """A purpose-built replica script that takes ``--host``/``--port``/``--name`` and announces itself with
    the simulator's readiness line (tests/reliability/fake_replica.py)."""
    return Replica(name, work_dir / f"{name}.log", program=[sys.executable, str(script)])


class Picker(PickerProcess):
    """``python -m picker`` on a static endpoints file, plain-text gRPC (Envoy and picker on loopback)."""

    def metrics(self) -> dict[str, float]:
        """The picker's Prometheus samples, keyed by the full sample name with labels."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
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


def soak_picker(
    work_dir: Path,
    replicas: Sequence[ReplicaProcess],
    objectives: dict[str, int] | None = None,
    *,
    max_endpoints: int = 1,
    extra_args: Sequence[str] = (),
    admission: dict[str, Any] | None = None,
    prefix_lru_capacity: int | None = None,
    grpc_port: int = 0,
) -> Picker:
    """The picker over ``replicas`` (started: their ports are known), not started yet."""
    endpoints = [StaticEndpoint(name=r.name, address=r.host, port=r.port) for r in replicas]
    args = [
        "--config-text", picker_config(max_endpoints, admission, prefix_lru_capacity),
        "--secure-serving=false",
        "--refresh-metrics-interval", "50ms",
        "--refresh-prometheus-metrics-interval", "50ms",
        "--shutdown-grace-period", "1s",
        "--seed", "7",
        *extra_args,
    ]  # fmt: skip
    return Picker(
        "picker", work_dir / "picker.log", work_dir / "endpoints.yaml", args,
        endpoints=StaticPoolFile.of(endpoints, objectives), grpc_port=grpc_port,
    )  # fmt: skip


def gateway_bootstrap(
    picker: PickerProcess,
    replicas: Sequence[ReplicaProcess],
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
        return [*(r.child for r in self.replicas), self.picker.child]

    def stop(self) -> None:
        for envoy in self.envoys.values():
            envoy.stop()
        for child in self.children():  # signal all first: they drain in parallel
            child.terminate()
        for child in self.children():
            child.stop_blocking()

    def leftover_processes(self) -> list[str]:
        return [c.name for c in self.children() if c.running]


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
    started: list[ChildProcess] = []
    gateway: GatewayUnderTest | None = None
    try:
        for replica in replicas:  # all at once: start-up is mostly Python imports
            replica.start()
            started.append(replica.child)
        for replica in replicas:
            replica.wait_ready_blocking()
        picker = soak_picker(
            work_dir, replicas, objectives, max_endpoints=max_endpoints, extra_args=picker_args,
            admission=admission, prefix_lru_capacity=prefix_lru_capacity,
        )  # fmt: skip
        gateway = GatewayUnderTest(replicas, picker, {})
        picker.start()
        picker.wait_ready_blocking()
        for name, options in (envoys or {"main": {}}).items():
            envoy = EnvoyProcess(gateway_bootstrap(picker, replicas, **options))
            gateway.envoys[name] = envoy
            envoy.start()
        wait_until(lambda: picker.ready_pods() == len(replicas), "picker sees every replica")
    except BaseException:
        if gateway is not None:
            gateway.stop()
        for child in started:
            child.stop_blocking()
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
