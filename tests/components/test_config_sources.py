"""Reading stack config: Pulumi.yaml defaults, stack files (secure values redacted), the engine's config."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from components.config import ConfigError, load_stack_config
from components.config.sources import (
    SECRET_PLACEHOLDER,
    StackFileError,
    find_project_dir,
    read_engine_config,
    read_stack,
    read_stack_file,
)

PROJECT_FILE = """\
name: demo-project
runtime: python
config:
  regions:
    description: required, no default
  gkeVersion:
    type: string
    default: 1.34.1-gke.1127000
  network: shared-vpc
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE, encoding="utf-8")
    return tmp_path


def write_stack(project: Path, stack: str, body: str) -> Path:
    path = project / f"Pulumi.{stack}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_values_and_secure_values(project: Path) -> None:
    write_stack(
        project,
        "dev",
        """\
encryptionsalt: v1:abc
config:
  gcp:project: demo-project-1
  demo-project:hfToken:
    secure: v1:AAAAciphertext
  regions:
    west: {region: europe-west3, token: {secure: v1:BBBB}}
""",
    )
    raw = read_stack("dev", project)
    assert raw.project == "demo-project"
    assert raw.stack == "dev"
    assert raw.values["demo-project:gkeVersion"] == "1.34.1-gke.1127000"
    assert raw.values["demo-project:network"] == "shared-vpc"
    assert raw.values["gcp:project"] == "demo-project-1"
    assert raw.values["demo-project:hfToken"] == SECRET_PLACEHOLDER
    assert raw.values["demo-project:regions"]["west"]["token"] == SECRET_PLACEHOLDER
    assert raw.secret_keys == {"demo-project:hfToken", "demo-project:regions"}
    assert raw.environments == ()
    assert "v1:AAAA" not in json.dumps(raw.values)


def test_esc_environments_are_reported(project: Path) -> None:
    write_stack(project, "esc", "environment:\n  - team/gpu-quota\nconfig:\n  gcp:project: demo-project-1\n")
    assert read_stack("esc", project).environments == ("team/gpu-quota",)


def test_declared_key_without_default_is_required(project: Path) -> None:
    write_stack(project, "bare", "config:\n  gcp:project: demo-project-1\n")
    raw = read_stack("bare", project)
    assert raw.required_keys == {"demo-project:regions"}
    with pytest.raises(ConfigError) as caught:
        load_stack_config(raw)
    assert str(caught.value.problems[0]) == (
        "regions: missing; Pulumi.yaml requires it in every stack (see docs/configuration.md)"
    )


def test_duplicate_keys_are_refused_with_their_lines(project: Path) -> None:
    path = write_stack(project, "dup", "config:\n  gcp:project: a\n  gcp:project: b\n")
    with pytest.raises(StackFileError, match=r"line 3: duplicate key 'gcp:project' \(first at line 2\)"):
        read_stack_file(path, project)


def test_unknown_stack_lists_the_known_ones(project: Path) -> None:
    write_stack(project, "dev", "config: {}\n")
    with pytest.raises(StackFileError, match=r"Pulumi\.prod\.yaml: not found; known stacks: dev"):
        read_stack("prod", project)


def test_broken_yaml_is_a_config_error_not_a_traceback(project: Path) -> None:
    write_stack(project, "broken", "config: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_stack_config("broken", project)
    assert caught.value.problems[0].key == "stack file"
    assert "not valid YAML" in caught.value.problems[0].message


def test_find_project_dir_walks_up(project: Path) -> None:
    nested = project / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project_dir(nested) == project.resolve()


def test_find_project_dir_without_project(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match=r"no Pulumi\.yaml"):
        find_project_dir(tmp_path)


def test_committed_pulumi_yaml_declares_every_stack_key(repo_root: Path, tmp_path: Path) -> None:
    """Every StackConfig key except gcp:project (the provider's own key) is declared in Pulumi.yaml."""
    from components.config import StackConfig

    shutil.copy(repo_root / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    write_stack(tmp_path, "x", "config: {}\n")
    raw = read_stack("x", tmp_path)
    declared = {key.split(":", 1)[1] for key in raw.values} | {
        key.split(":", 1)[1] for key in raw.required_keys
    }
    model_keys = {field.alias or name for name, field in StackConfig.model_fields.items()} - {
        "project",
        "services",
    }
    assert model_keys <= declared


def test_engine_config_from_environment(engine_config: Callable[[dict[str, str], list[str]], None]) -> None:
    """What `pulumi up` hands the program: text values, objects as JSON, secret keys listed."""
    engine_config(
        {
            "demo:regions": '{"west": {"region": "europe-west3"}}',
            "demo:hfToken": "hf_x",
            "gcp:project": "p-123456",
        },
        ["demo:hfToken"],
    )
    raw = read_engine_config("demo", "dev")
    assert raw.values["demo:regions"] == {"west": {"region": "europe-west3"}}
    assert raw.values["demo:hfToken"] == "hf_x"
    assert raw.secret_keys == {"demo:hfToken"}
