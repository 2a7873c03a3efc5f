"""PickerImage: the endpoint picker's container image, built and pushed or taken pinned from config.

`build: true` builds picker/Dockerfile with pulumi-docker-build and pushes it to an Artifact Registry
repository this component creates; otherwise the configured, pinned `image` is used as is. Either way
`image_ref` never floats (a digest after a push, else a version tag or digest from config).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp

from components.service_config import PickerImageSpec

IMAGE_NAME = "picker"


@dataclass(frozen=True, kw_only=True)
class PickerImageArgs:
    spec: PickerImageSpec
    project: pulumi.Input[str]
    # Artifact Registry location, e.g. the config cluster's region (pulls stay in-region there).
    location: str
    # Build context and Dockerfile, relative to the Pulumi project directory.
    context_dir: str = "picker"
    dockerfile: str = "picker/Dockerfile"
    platforms: Sequence[docker_build.Platform] = (docker_build.Platform.LINUX_AMD64,)
    # Identities allowed to pull (the GKE node service accounts), as IAM members ("serviceAccount:...").
    reader_members: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.spec.build and self.spec.image is None:
            raise ValueError("spec.image: set a pinned picker image, or spec.build=True to build one")


class PickerImage(pulumi.ComponentResource):
    """Output `image_ref`: what the picker Deployments run."""

    image_ref: pulumi.Output[str]

    def __init__(self, name: str, args: PickerImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("infgw:index:PickerImage", name, None, opts)
        spec = args.spec
        if not spec.build:
            assert spec.image is not None
            self.image_ref = pulumi.Output.from_input(spec.image)
            self.register_outputs({"imageRef": self.image_ref})
            return

        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=args.project,
            location=args.location,
            repository_id=spec.repository,
            format="DOCKER",
            description="Endpoint picker images for the inference gateway",
            # Pins are the contract: a pushed version tag must never be moved to other content.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            opts=child,
        )
        for index, member in enumerate(args.reader_members):
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-reader-{index}",
                project=args.project,
                location=args.location,
                repository=repository.repository_id,
                role="roles/artifactregistry.reader",
                member=member,
                opts=pulumi.ResourceOptions(parent=self),
            )

        tag = pulumi.Output.concat(
            args.location,
            "-docker.pkg.dev/",
            args.project,
            "/",
            repository.repository_id,
            f"/{IMAGE_NAME}:{spec.tag}",
        )
        # Registry credentials come from Docker's gcloud credential helper on the deploying machine
        # (`gcloud auth configure-docker <location>-docker.pkg.dev`), so no token lands in state.
        image = docker_build.Image(
            f"{name}-image",
            context=docker_build.BuildContextArgs(location=args.context_dir),
            dockerfile=docker_build.DockerfileArgs(location=args.dockerfile),
            platforms=list(args.platforms),
            tags=[tag],
            push=True,
            labels={"org.opencontainers.image.version": spec.tag},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[repository]),
        )
        # `ref` is the digest-pinned reference of the pushed image: unknown until the push (so a preview
        # shows it as such, never a made-up value); the immutable version tag covers a provider that
        # reports no ref.
        self.image_ref = pulumi.Output.all(image.ref, tag).apply(lambda parts: parts[0] or parts[1])
        self.register_outputs({"imageRef": self.image_ref, "repository": repository.id})
