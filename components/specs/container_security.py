"""The containers' security context, defined once: what every container gives up, and what an image that runs
as a fixed non-root user on a read-only root filesystem (the picker's, BBR's) gives up on top."""

from __future__ import annotations

import pulumi_kubernetes as k8s

core = k8s.core.v1


def container_security_context(non_root_user: int | None = None) -> core.SecurityContextArgs:
    """No setuid, no Linux capability, no syscall outside the runtime's default seccomp profile; with
    ``non_root_user`` (the image's numeric USER) also runAsNonRoot as that user and a read-only root
    filesystem.

    The model servers' containers get the first part alone: vLLM images run as root and write to their
    cache directories (~/.cache for the Hugging Face and torch caches, compiled kernels) besides /data and
    /dev/shm, so runAsNonRoot or readOnlyRootFilesystem would need image-specific paths and users this
    program does not control. Dropping ALL capabilities still removes root's extra powers in the container.
    """
    non_root = True if non_root_user is not None else None  # None: the field is left out
    return core.SecurityContextArgs(
        run_as_non_root=non_root,
        run_as_user=non_root_user,
        read_only_root_filesystem=non_root,
        allow_privilege_escalation=False,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )
