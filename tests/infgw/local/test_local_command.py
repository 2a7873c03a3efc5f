"""`infgw local` as users run it: bad input fails before anything starts; `--once` end to end as a
subprocess; Ctrl-C/SIGTERM (and a killed parent) leave no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from local_gateway_stacks import TWO_POOL_SERVICES, stack_document, write_stack
from typer.testing import CliRunner

from infgw.cli import app
from infgw.local.command import ignored_regional_flags
from infgw.local.regions.regional_options import RegionalOptions

INVALID_INPUT_EXIT = 2


def run_cli(*args: str) -> tuple[int, str]:
    # Wide columns: rich would wrap long lines of the captured output mid-phrase.
    result = CliRunner().invoke(app, ["local", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def processes_mentioning(marker: str) -> list[int]:
    """PIDs whose command line contains ``marker`` (every child gets a path under the work dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def local_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "infgw", "local", *args]


def test_busy_port_is_a_clear_error_naming_the_port(repo_root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run_cli("--project-dir", str(repo_root), "--port", str(port))
    assert code == INVALID_INPUT_EXIT
    assert f"port {port} on 127.0.0.1 is not available (already in use)" in output


def test_bad_sim_setting_fails_before_anything_starts(repo_root: Path) -> None:
    code, output = run_cli("--project-dir", str(repo_root), "--sim-set", "max_num_seqs=-3")
    assert code == INVALID_INPUT_EXIT
    assert "max_num_seqs" in output and "--sim-set" in output
    code, output = run_cli("--project-dir", str(repo_root), "--sim-set", "no-equals-sign")
    assert code == INVALID_INPUT_EXIT
    assert "use KEY=VALUE" in output
    code, output = run_cli("--project-dir", str(repo_root), "--sim-set", "faults={error_rate: 0.1")
    assert code == INVALID_INPUT_EXIT
    assert "--sim-set faults: the value is not valid YAML" in output
    code, output = run_cli("--project-dir", str(repo_root), "--sim-set", "port=1")
    assert code == INVALID_INPUT_EXIT
    assert "cannot be overridden" in output
    code, output = run_cli("--project-dir", str(repo_root), "--sim-set", "max-num-seq=8")
    assert code == INVALID_INPUT_EXIT
    assert "--sim-set max_num_seq: not a simulator config key (sim/README.md); use one of " in output
    assert "max_num_seqs" in output and "port" not in output.split("use one of", 1)[1]


def test_unknown_client_region_names_the_flag_and_the_regions_before_anything_starts(repo_root: Path) -> None:
    code, output = run_cli("--project-dir", str(repo_root), "--client-region", "mars")
    assert code == INVALID_INPUT_EXIT
    assert (
        "--client-region 'mars' is not a region of stack dev; use one of europe-west3 (or gke-west), "
        "us-east4 (or gke-east)" in output
    )
    assert "Traceback" not in output and "Starting" not in output


def test_paths_of_the_wrong_kind_are_refused_naming_the_flag(repo_root: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "work"
    a_file.write_text("", encoding="utf-8")
    code, output = run_cli("--project-dir", str(repo_root), "--work-dir", str(a_file))
    assert code == INVALID_INPUT_EXIT
    assert "Invalid value for '--work-dir'" in output and "is a file" in output
    code, output = run_cli("--project-dir", str(tmp_path / "no-such-project"))
    assert code == INVALID_INPUT_EXIT
    assert "Invalid value for '--project-dir'" in output and "does not exist" in output


def test_unknown_stack_and_missing_services_are_clear_errors(
    tmp_path: Path, project_file: Path, repo_root: Path
) -> None:
    code, output = run_cli("--project-dir", str(repo_root), "--stack", "no-such-stack")
    assert code == INVALID_INPUT_EXIT
    assert "no-such-stack" in output

    project = write_stack(tmp_path, "bare", TWO_POOL_SERVICES, project_file)
    document = stack_document(TWO_POOL_SERVICES)
    del document["config"]["gke-inference-gateway:services"]
    (project / "Pulumi.bare.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    code, output = run_cli("--project-dir", str(project), "--stack", "bare")
    assert code == INVALID_INPUT_EXIT
    assert "services: missing" in output


def test_a_flag_vllm_does_not_have_stops_before_anything_starts(tmp_path: Path, project_file: Path) -> None:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"][0]["extraArgs"] = ["--no-such-vllm-flag"]
    project = write_stack(tmp_path, "bad-flag", services, project_file)
    code, output = run_cli("--project-dir", str(project), "--stack", "bad-flag")
    assert code == INVALID_INPUT_EXIT
    assert "does not plan" in output and "--no-such-vllm-flag" in output


def test_picker_config_the_picker_refuses_stops_before_anything_starts(
    tmp_path: Path, project_file: Path
) -> None:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"][0]["picker"] = {"config": {"plugins": [{"type": "no-such-scorer"}]}}
    project = write_stack(tmp_path, "bad-picker", services, project_file)
    code, output = run_cli("--project-dir", str(project), "--stack", "bad-picker")
    assert code == INVALID_INPUT_EXIT
    assert "services.pools[0].picker.config.plugins[0].type" in output
    assert "unknown plugin type 'no-such-scorer'" in output


def test_invalid_services_config_names_the_key(tmp_path: Path, project_file: Path) -> None:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["objectives"][0]["pool"] = "nope"
    project = write_stack(tmp_path, "bad", services, project_file)
    code, output = run_cli("--project-dir", str(project), "--stack", "bad")
    assert code == INVALID_INPUT_EXIT
    assert "objectives[0].pool" in output and "unknown pool 'nope'" in output


@pytest.mark.integration
def test_child_failing_at_startup_stops_everything_and_shows_its_log(
    tmp_path: Path, project_file: Path
) -> None:
    services = copy.deepcopy(TWO_POOL_SERVICES)
    services["pools"] = services["pools"][:1]
    # LoRA turned off after the adapters were asked for: the stack plans (vLLM knows the flag), the server
    # refuses the adapters the LoRA syncer brings.
    services["pools"][0]["extraArgs"] = ["--no-enable-lora"]
    project = write_stack(tmp_path / "project", "bad-picker", services, project_file)
    work_dir = tmp_path / "work"
    code, output = run_cli(
        "--project-dir",
        str(project),
        "--stack",
        "bad-picker",
        "--once",
        "--replicas",
        "1",
        "--work-dir",
        str(work_dir),
    )
    assert code == 1
    assert "replica:llama-0 exited with code" in output
    assert "lora_modules are set but enable_lora is false" in output  # the server's own words, from its log
    assert processes_mentioning(str(work_dir)) == []


@pytest.mark.integration
def run_once(repo_root: Path, work_dir: Path, stack: str) -> subprocess.CompletedProcess[str]:
    argv = local_argv(
        "--project-dir", str(repo_root), "--stack", stack, "--once", "--replicas", "1", "--work-dir", str(work_dir)
    )  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env=os.environ | {"COLUMNS": "200"}
    )


def test_once_answers_seed_000s_request_through_envoy_and_the_picker(repo_root: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    result = run_once(repo_root, work_dir, "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 2 sample requests answered" in result.stdout
    assert '"model": "food-review-1"' in result.stdout  # the multi-cluster guide's request, and its answer
    assert '"object": "text_completion"' in result.stdout
    assert '"object": "chat.completion"' in result.stdout
    assert processes_mentioning(str(work_dir)) == []
    # The dev stack is two clusters: each region's gateway, and the cross-region tier in front.
    assert "through the tier" in result.stdout
    assert (work_dir / "gke-west" / "envoy" / "bootstrap.json").is_file()
    assert (work_dir / "gke-east" / "envoy" / "bootstrap.json").is_file()
    assert (work_dir / "tier" / "bootstrap.json").is_file()


def test_once_serves_a_single_cluster_stack_on_one_envoy(repo_root: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    result = run_once(repo_root, work_dir, "single")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 2 sample requests answered; stopping." in result.stdout
    assert processes_mentioning(str(work_dir)) == []
    assert (work_dir / "envoy" / "bootstrap.json").is_file()
    assert not (work_dir / "tier").exists()


@contextlib.asynccontextmanager
async def serving(work_dir: Path, repo_root: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`infgw local` serving in a subprocess, yielded once ready; whatever the test does, it ends stopped."""
    process = await asyncio.create_subprocess_exec(
        # A single-cluster stack: one replica, one picker, Envoy (the dev stack runs two regions and a tier).
        *local_argv(
            "--project-dir",
            str(repo_root),
            "--stack",
            "single",
            "--replicas",
            "1",
            "--work-dir",
            str(work_dir),
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=os.environ | {"COLUMNS": "200"},
    )

    async def ready() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if b"Gateway ready at" in line:
                return
        raise AssertionError("infgw local exited before it was ready")

    try:
        await asyncio.wait_for(ready(), 90)
        children = set(processes_mentioning(str(work_dir))) - {process.pid}
        assert len(children) == 3, children  # one replica, one picker, Envoy
        yield process
    finally:
        if process.returncode is None:
            process.terminate()  # the command's own shutdown stops its children
            try:
                await asyncio.wait_for(process.communicate(), 30)
            except TimeoutError:
                process.kill()  # the children follow through their parent-death signal
                await process.wait()


@pytest.mark.integration
async def test_sigterm_stops_every_child(repo_root: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    async with serving(work_dir, repo_root) as process:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode(errors="replace")
    assert b"Stopped every process the gateway started." in output
    assert processes_mentioning(str(work_dir)) == []


@pytest.mark.integration
@pytest.mark.slow
async def test_killed_parent_takes_its_children_along(repo_root: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    async with serving(work_dir, repo_root) as process:
        process.kill()  # SIGKILL: no cleanup code runs in the parent
        await process.wait()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while processes_mentioning(str(work_dir)) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    assert processes_mentioning(str(work_dir)) == []


def test_multi_region_flags_given_for_a_one_cluster_stack_are_named_in_a_note() -> None:
    defaults = RegionalOptions.model_fields
    delay, report = defaults["inter_region_delay_s"].default, defaults["report_delay_s"].default
    assert ignored_regional_flags("single", None, delay, report) == []
    assert ignored_regional_flags("single", "us-east4", delay + 0.05, report) == [
        "--client-region, --inter-region-delay: stack single has one cluster; multi-region flags are ignored"
    ]
    assert ignored_regional_flags("single", None, delay, report + 1) == [
        "--report-delay: stack single has one cluster; multi-region flags are ignored"
    ]
