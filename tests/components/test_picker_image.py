"""PickerImage: a pinned configured image as is, or an Artifact Registry repo + docker-build push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config.services import PickerImageSpec
from infgw.plan.model import PlannedResource
from tests.components.dockerfile_named_contexts import dockerfile_named_contexts

PINNED = "us-docker.pkg.dev/example-project/inference-gateway/picker@sha256:" + "ab" * 32
REPOSITORY = "gcp:artifactregistry/repository:Repository"
IMAGE = "docker-build:index:Image"
READER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"


def build(
    pulumi_mocks: Any, spec: PickerImageSpec, **overrides: Any
) -> tuple[list[PlannedResource], list[str]]:
    from components.picker_image import PickerImage, PickerImageArgs

    refs: list[str] = []

    def program() -> None:
        args = {"spec": spec, "project": "example-project", "location": "europe-west3", **overrides}
        image = PickerImage("picker-image", PickerImageArgs(**args))
        image.image_ref.apply(refs.append)

    return pulumi_mocks.record(program), refs


def test_configured_image_is_used_as_is(pulumi_mocks: Any) -> None:
    resources, refs = build(pulumi_mocks, PickerImageSpec(image=PINNED))
    assert refs == [PINNED]
    assert [r.type for r in resources] == ["infgw:index:PickerImage"]


def test_build_pushes_a_content_tagged_image_to_an_immutable_repository(pulumi_mocks: Any) -> None:
    from components.picker_image import content_tag

    resources, refs = build(
        pulumi_mocks,
        PickerImageSpec(),
        reader_members=["serviceAccount:nodes@example-project.iam.gserviceaccount.com"],
    )
    (repository,) = [r for r in resources if r.type == REPOSITORY]
    assert repository.get("format") == "DOCKER"
    assert repository.get("location") == "europe-west3"
    assert repository.get("repositoryId") == "inference-gateway"
    assert repository.get("dockerConfig.immutableTags") is True
    (image,) = [r for r in resources if r.type == IMAGE]
    assert image.get("push") is True
    assert image.get("context.location") == "picker"
    # The chat prompt package the picker shares with the simulator, as picker/Dockerfile's named context.
    assert image.get("context.named") == {"chat_prompt": {"location": "chat_prompt"}}
    assert image.get("dockerfile.location") == "picker/Dockerfile"
    assert image.get("platforms") == ["linux/amd64"]
    tag = content_tag()
    assert tag.startswith("src-") and len(tag) == 4 + 16
    expected = f"europe-west3-docker.pkg.dev/example-project/inference-gateway/picker:{tag}"
    assert image.get("tags") == [expected]
    # Known at preview (the plan's manifests are complete); pods order after the push via `pushed`.
    assert refs == [expected]
    (reader,) = [r for r in resources if r.type == READER]
    assert reader.get("role") == "roles/artifactregistry.reader"
    assert repository.urn in image.dependencies


def test_content_tag_moves_with_the_build_context_and_ignores_what_docker_ignores(tmp_path: Path) -> None:
    from components.picker_image import content_tag

    (tmp_path / ".dockerignore").write_text("**/__pycache__\nbench\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print(1)\n")
    before = content_tag(tmp_path, {})
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "result.json").write_text("{}")
    (tmp_path / "src" / "__pycache__").mkdir()
    (tmp_path / "src" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    assert content_tag(tmp_path, {}) == before
    (tmp_path / "src" / "app.py").write_text("print(2)\n")
    assert content_tag(tmp_path, {}) != before


def test_content_tag_moves_with_a_named_context_and_ignores_what_its_dockerignore_ignores(
    tmp_path: Path,
) -> None:
    from components.picker_image import content_tag

    context, shared = tmp_path / "picker", tmp_path / "shared"
    for directory in (context, shared):
        (directory / "src").mkdir(parents=True)
        (directory / "src" / "module.py").write_text("VALUE = 1\n")
    (shared / ".dockerignore").write_text("**/__pycache__\n**/*.egg-info\n")

    def tag(named: dict[str, str]) -> str:
        return content_tag(context, named, tmp_path)

    before = tag({"shared": "shared"})
    assert before != tag({})
    assert before != tag({"other-name": "shared"})  # the name is what the Dockerfile copies from
    (shared / "src" / "__pycache__").mkdir()
    (shared / "src" / "__pycache__" / "module.pyc").write_bytes(b"\0")
    (shared / "src" / "shared.egg-info").mkdir()
    (shared / "src" / "shared.egg-info" / "PKG-INFO").write_text("Name: shared\n")
    assert tag({"shared": "shared"}) == before
    (shared / "src" / "module.py").write_text("VALUE = 2\n")
    assert tag({"shared": "shared"}) != before


def test_the_named_contexts_are_the_ones_picker_dockerfile_copies_from() -> None:
    from components.picker_image import PICKER_NAMED_CONTEXTS, PROJECT_DIR

    assert dockerfile_named_contexts(PROJECT_DIR / "picker" / "Dockerfile") == dict(PICKER_NAMED_CONTEXTS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"image": "ghcr.io/example/picker:latest"}, "floating tag 'latest'"),
        ({"image": "ghcr.io/example/picker"}, "has no tag"),
        ({"build": True}, "Extra inputs are not permitted"),
    ],
)
def test_unpinned_images_fail_validation(spec: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        PickerImageSpec.model_validate(spec)
