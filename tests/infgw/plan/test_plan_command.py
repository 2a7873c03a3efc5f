"""`infgw plan` from the outside: exit codes, one line per config problem, the JSON file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infgw.cli import app

BAD_STACK = """\
config:
  gcp:project: my-inference-project
  gke-inference-gateway:fleet: {configCluster: gke-north}
  gke-inference-gateway:regions:
    gke-west: {region: europe-west3, zone: us-east4-a, proxySubnetCidr: 10.0.0.0/23}
    gke-east: {region: us-east4, zone: us-east4-a, proxySubnetCidr: 10.0.0.0/22}
"""
EXPECTED_PROBLEMS = [
    # Pulumi.yaml declares `services` without a default, so Pulumi (and the plan) require it.
    "services: missing; Pulumi.yaml requires it in every stack (see docs/configuration.md)",
    "regions.gke-west.zone: 'us-east4-a' is in region 'us-east4', not in 'europe-west3'; "
    "use one of europe-west3-a, europe-west3-b, europe-west3-c",
    "fleet.configCluster: 'gke-north' is not among the regions; use one of gke-west, gke-east",
    "regions.gke-east.proxySubnetCidr: 10.0.0.0/22 overlaps regions.gke-west.proxySubnetCidr (10.0.0.0/23); "
    "pick a free range such as 10.0.4.0/22",
]


def run_plan_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m infgw plan ARGS` in its own process (its own Pulumi mocks), as `make plan` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "infgw", "plan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def project_with_bad_stack(tmp_path: Path, repo_root: Path) -> Path:
    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.bad.yaml").write_text(BAD_STACK, encoding="utf-8")
    return tmp_path


def test_bad_stack_exits_2_with_one_line_per_problem(project_with_bad_stack: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--stack", "bad", "--project-dir", str(project_with_bad_stack)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == EXPECTED_PROBLEMS
    assert result.stdout == ""


def readme_bad_stack_output(readme: str) -> list[str]:
    """The lines README.md shows under `$ make plan STACK=bad`, up to the end of that code block."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$ make plan STACK=bad"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    return lines[start + 1 : end]


def test_committed_bad_stack_prints_what_the_readme_shows(repo_root: Path) -> None:
    """`make plan STACK=bad` as a new user runs it: the committed Pulumi.bad.yaml, the README's lines exactly."""
    result = CliRunner().invoke(app, ["plan", "--stack", "bad", "--project-dir", str(repo_root)])
    assert result.exit_code == 2
    assert result.stdout == ""
    expected = readme_bad_stack_output((repo_root / "README.md").read_text(encoding="utf-8"))
    assert len(expected) == 3
    assert result.stderr.splitlines() == expected


def test_unknown_stack_exits_2(project_with_bad_stack: Path) -> None:
    result = CliRunner().invoke(
        app, ["plan", "--stack", "prod", "--project-dir", str(project_with_bad_stack)]
    )
    assert result.exit_code == 2
    assert "Pulumi.prod.yaml: not found; known stacks: bad" in result.stderr


def test_output_paths_of_the_wrong_kind_are_refused_naming_the_flag(tmp_path: Path, repo_root: Path) -> None:
    """Checked before anything is planned: a file where --manifests wants a folder, the reverse, no project."""
    a_file = tmp_path / "out"
    a_file.write_text("", encoding="utf-8")
    wide = {"COLUMNS": "200"}  # rich would wrap the error box mid-phrase
    result = CliRunner().invoke(app, ["plan", "--project-dir", str(repo_root), "--manifests", str(a_file)], env=wide)
    assert result.exit_code == 2
    assert "Invalid value for '--manifests'" in result.output and "is a file" in result.output
    result = CliRunner().invoke(app, ["plan", "--project-dir", str(repo_root), "--json", str(tmp_path)], env=wide)
    assert result.exit_code == 2
    assert "Invalid value for '--json'" in result.output and "is a directory" in result.output
    result = CliRunner().invoke(app, ["plan", "--project-dir", str(tmp_path / "no-such-project")], env=wide)
    assert result.exit_code == 2
    assert "Invalid value for '--project-dir'" in result.output and "does not exist" in result.output


@pytest.mark.integration
def test_deploy_order_into_a_file_without_the_block_names_the_flag(tmp_path: Path, repo_root: Path) -> None:
    document = tmp_path / "notes.md"
    document.write_text("# notes\n", encoding="utf-8")
    completed = run_plan_process("--stack", "single", "--deploy-order", str(document), cwd=repo_root)
    assert completed.returncode == 2
    assert any(
        line.startswith(f"--deploy-order: {document} has no <!-- deploy-order:begin")
        for line in completed.stderr.splitlines()
    ), completed.stderr
    assert "Traceback" not in completed.stderr
    assert document.read_text(encoding="utf-8") == "# notes\n"


def test_help_lists_plan() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "plan" in result.stdout


@pytest.mark.integration
def test_bad_stack_in_a_real_process_has_no_traceback(project_with_bad_stack: Path, repo_root: Path) -> None:
    completed = run_plan_process("--stack", "bad", "--project-dir", str(project_with_bad_stack), cwd=repo_root)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == EXPECTED_PROBLEMS


@pytest.mark.integration
def test_dev_plan_in_a_real_process_writes_json(tmp_path: Path, repo_root: Path) -> None:
    """What `make plan ARGS="--json FILE"` runs: its own process, its own Pulumi mocks."""
    plan_file = tmp_path / "plan.json"
    completed = run_plan_process("--stack", "dev", "--json", str(plan_file), cwd=repo_root)
    assert completed.returncode == 0, completed.stderr
    assert "Resources per type" in completed.stdout
    document = json.loads(plan_file.read_text(encoding="utf-8"))
    assert document["stack"] == "dev"
    assert document["counts"]["gcp:container/cluster:Cluster"] == 2
    assert document["counts"]["gcp:gkehub/membership:Membership"] == 2
    # The deploy rehearsal ran and found nothing that would keep `pulumi up` from finishing.
    assert "Deploy rehearsal: 9 waits, no readiness cycle" in completed.stdout


@pytest.mark.parametrize(
    ("pool_changes", "expected"),
    [
        # The guide's single cluster as written: 3 one-GPU replicas on its one 2-GPU node.
        ({"replicas": 3}, "services.pools[0].replicas: 1 of 3 replicas (1 GPU each) find no GPU"),
        (
            {"picker": {"config": {"plugins": [{"type": "prefix-cache-scorer", "parameters": {"blockSize": 0}}]}}},
            "services.pools[0].picker.config.plugins[0].parameters.blockSize: Input should be greater than or equal to 1",
        ),
        ({"picker": {"profile": "fastest"}}, "services.pools[0].picker.profile: Input should be 'recommended', 'default', 'precise' or 'llm-d-default'"),
    ],
    ids=["more-gpu-replicas-than-gpus", "picker-config-the-picker-refuses", "unknown-profile"],
)
def test_stack_that_could_not_deploy_exits_2_naming_the_key(
    tmp_path: Path, repo_root: Path, pool_changes: dict[str, object], expected: str
) -> None:
    import yaml

    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load((repo_root / "Pulumi.single.yaml").read_text(encoding="utf-8"))
    document["config"]["gke-inference-gateway:services"]["pools"][0].update(pool_changes)
    (tmp_path / "Pulumi.guide.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    result = CliRunner().invoke(app, ["plan", "--stack", "guide", "--project-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert any(line.startswith(expected) for line in result.stderr.splitlines()), result.stderr


def test_a_stack_the_rehearsal_refuses_exits_2_naming_the_fix(tmp_path: Path, repo_root: Path) -> None:
    """Valid config, but the rendered vLLM command line carries a flag vLLM does not have: `pulumi up` would
    wait for pods that exit at start. The rehearsal says so and the plan exits 2."""
    import yaml

    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "__main__.py").symlink_to(repo_root / "__main__.py")  # the program the stack runs
    document = yaml.safe_load((repo_root / "Pulumi.single.yaml").read_text(encoding="utf-8"))
    document["config"]["gke-inference-gateway:services"]["pools"][0]["extraArgs"] = ["--no-such-vllm-flag"]
    (tmp_path / "Pulumi.bad-flag.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    completed = run_plan_process("--stack", "bad-flag", "--project-dir", str(tmp_path), cwd=repo_root)
    assert completed.returncode == 2, completed.stdout[-2000:]
    output = " ".join(completed.stdout.split())
    assert "vLLM would refuse its command line" in output and "fix pools[].extraArgs" in output
    assert "`pulumi up` would not finish" in output
