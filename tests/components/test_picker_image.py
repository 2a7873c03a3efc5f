"""PickerImage: a pinned configured image as is, or an Artifact Registry repo + docker-build push."""

from __future__ import annotations

from typing import Any

import pytest

from components.service_config import PickerImageSpec
from infgw.plan.model import PlannedResource

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


def test_build_pushes_to_an_immutable_artifact_registry_repository(pulumi_mocks: Any) -> None:
    resources, _ = build(
        pulumi_mocks,
        PickerImageSpec(build=True, tag="0.2.0"),
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
    assert image.get("dockerfile.location") == "picker/Dockerfile"
    assert image.get("platforms") == ["linux/amd64"]
    assert image.get("labels") == {"org.opencontainers.image.version": "0.2.0"}
    assert image.get("tags") == ["europe-west3-docker.pkg.dev/example-project/inference-gateway/picker:0.2.0"]
    (reader,) = [r for r in resources if r.type == READER]
    assert reader.get("role") == "roles/artifactregistry.reader"
    assert repository.urn in image.dependencies


def test_built_image_ref_waits_for_the_pushed_digest(pulumi_mocks: Any) -> None:
    # In preview the digest-pinned ref is unknown, so nothing downstream sees a made-up value.
    _, refs = build(pulumi_mocks, PickerImageSpec(build=True))
    assert refs == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"build": False}, "picker.build: true"),
        ({"image": "ghcr.io/example/picker:latest"}, "floating tag 'latest'"),
        ({"image": "ghcr.io/example/picker"}, "has no tag"),
        ({"build": True, "tag": "main"}, "tag 'main' floats"),
    ],
)
def test_unpinned_or_missing_images_fail_validation(spec: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        PickerImageSpec.model_validate(spec)
