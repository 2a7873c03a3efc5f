"""PickerImage: the endpoint picker's container image, built and pushed, or taken pinned from config.

By default picker/Dockerfile is built with pulumi-docker-build (a Docker engine on the machine running
`pulumi up`; the context is picker/, with chat_prompt/ as the named context `chat_prompt`) and pushed to an
Artifact Registry repository this component creates, tagged `src-<digest of the build contexts>`: the tag moves exactly when the image's content does, so immutable tags
never refuse a push and an unchanged picker is neither rebuilt nor pushed. With a configured `image` that
pinned image is used as is. Either way `image_ref` never floats (a digest after a push, else the pin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp

from components.config.services import PickerImageSpec
from components.runtime.child_options import child_options
from components.specs.build_context_digest import build_context_digest

IMAGE_NAME = "picker"
# This repository (the Pulumi project directory); picker/ in it is the build context, hashed for the tag.
PROJECT_DIR = Path(__file__).resolve().parents[1]
PICKER_SOURCE_DIR = PROJECT_DIR / "picker"
# picker/Dockerfile's named build contexts (`COPY --from=<name>`): name -> directory in this repository.
PICKER_NAMED_CONTEXTS: Mapping[str, str] = {"chat_prompt": "chat_prompt"}
TAG_DIGEST_CHARS = 16


def content_tag(
    context: Path = PICKER_SOURCE_DIR,
    named_context_dirs: Mapping[str, str] = PICKER_NAMED_CONTEXTS,
    project_dir: Path = PROJECT_DIR,
) -> str:
    """`src-<16 hex>`: the content digest of the build context and its named contexts (directories relative
    to `project_dir`)."""
    named = {name: project_dir / location for name, location in named_context_dirs.items()}
    return f"src-{build_context_digest(context, named)[:TAG_DIGEST_CHARS]}"


@dataclass(frozen=True, kw_only=True)
class PickerImageArgs:
    spec: PickerImageSpec
    project: pulumi.Input[str]
    # Artifact Registry location, e.g. the config cluster's region (pulls stay in-region there).
    location: str
    # Build context and Dockerfile, relative to the Pulumi project directory; the context is hashed from
    # `source_dir` (the same folder, absolute) for the tag.
    context_dir: str = "picker"
    source_dir: Path = PICKER_SOURCE_DIR
    # Named build contexts, name -> directory relative to the Pulumi project directory; hashed from
    # `project_dir` with the main context.
    named_context_dirs: Mapping[str, str] = field(default_factory=lambda: dict(PICKER_NAMED_CONTEXTS))
    project_dir: Path = PROJECT_DIR
    dockerfile: str = "picker/Dockerfile"
    platforms: Sequence[docker_build.Platform] = (docker_build.Platform.LINUX_AMD64,)
    # Identities allowed to pull (the GKE node service accounts), as IAM members ("serviceAccount:...").
    reader_members: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class PickerImage(pulumi.ComponentResource):
    """Output `image_ref`: what the picker Deployments run."""

    image_ref: pulumi.Output[str]
    # What must exist before a pod can pull `image_ref` (the push); empty for a configured image.
    pushed: list[pulumi.Resource]

    def __init__(self, name: str, args: PickerImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("infgw:index:PickerImage", name, None, opts)
        spec = args.spec
        if not spec.build:
            assert spec.image is not None
            self.image_ref = pulumi.Output.from_input(spec.image)
            self.pushed = []
            self.register_outputs({"imageRef": self.image_ref})
            return

        child = child_options(self, opts, depends_on=list(args.depends_on))
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
                opts=child_options(self, opts),
            )

        tag_value = content_tag(args.source_dir, args.named_context_dirs, args.project_dir)
        tag = pulumi.Output.concat(
            args.location,
            "-docker.pkg.dev/",
            args.project,
            "/",
            repository.repository_id,
            f"/{IMAGE_NAME}:{tag_value}",
        )
        # Registry credentials come from Docker's gcloud credential helper on the deploying machine
        # (`gcloud auth configure-docker <location>-docker.pkg.dev`), so no token lands in state.
        image = docker_build.Image(
            f"{name}-image",
            context=docker_build.BuildContextArgs(
                location=args.context_dir,
                named={
                    name: docker_build.ContextArgs(location=location)
                    for name, location in args.named_context_dirs.items()
                },
            ),
            dockerfile=docker_build.DockerfileArgs(location=args.dockerfile),
            platforms=list(args.platforms),
            tags=[tag],
            push=True,
            labels={"org.opencontainers.image.revision": tag_value},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[repository]),
        )
        # The content-addressed tag in a repository with immutable tags pins the content as a digest would,
        # and is known at preview, so the plan's manifests are complete. Pods may pull it only after the
        # push: consumers depend on `pushed`.
        self.image_ref = tag
        self.pushed = [image]
        self.register_outputs({"imageRef": self.image_ref, "repository": repository.id})
