"""Resource options for a component's children that carry the component's own `depends_on`.

The Python SDK does not pass a component's `depends_on` to the resources created inside it: a Region told
to wait for the project's APIs would otherwise create its cluster while the APIs are still being enabled
(pulumi/pulumi#8721; the deploy rehearsal's order shows it). Every child a component creates first uses
these options.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


def inherited_depends_on(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    value = opts.depends_on if opts is not None else None
    if value is None:
        return []
    if isinstance(value, pulumi.Resource):
        return [value]
    if isinstance(value, Sequence):
        return [item for item in value if isinstance(item, pulumi.Resource)]
    raise TypeError("a component's depends_on must be resources, not an Output or awaitable")


def child_options(
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None,
    depends_on: Sequence[pulumi.Resource] = (),
    **more: object,
) -> pulumi.ResourceOptions:
    """`parent=parent`, the component's `depends_on` plus `depends_on`, and any other option in `more`."""
    return pulumi.ResourceOptions(
        # `more` are ResourceOptions keywords (custom_timeouts, provider, ...), typed per keyword there.
        parent=parent, depends_on=[*inherited_depends_on(opts), *depends_on], **more  # type: ignore[arg-type]
    )
