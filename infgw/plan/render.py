"""Print a Plan for people: a tree grouped by component, a count per resource type, the stack outputs."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from infgw.plan.key_inputs import key_inputs
from infgw.plan.model import SECRET, UNKNOWN, Plan, PlannedResource


def _format_value(value: Any) -> str:
    if value == UNKNOWN:
        return "[italic yellow](known after apply)[/]"
    if value == SECRET:
        return f"[magenta]{escape(SECRET)}[/]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # the wire has one number type; show 3, not 3.0
    if isinstance(value, list):
        return "\\[" + ", ".join(_format_value(item) for item in value) + "]"
    return escape(str(value))


# Shorter labels for the generic (Kubernetes) summary fields; `kind` repeats the type token.
_DISPLAY_LABELS = MappingProxyType({"metadata.namespace": "namespace", "metadata.name": "name"})
_HIDDEN_LABELS = frozenset({"kind"})


def _label(resource: PlannedResource) -> str:
    summary = "  ".join(
        f"[dim]{escape(_DISPLAY_LABELS.get(key, key))}=[/]{_format_value(value)}"
        for key, value in key_inputs(resource).items()
        if key not in _HIDDEN_LABELS
    )
    style = "bold cyan" if resource.is_component else "bold"
    return f"[{style}]{escape(resource.name)}[/] [dim]{escape(resource.type)}[/]" + (
        f"  {summary}" if summary else ""
    )


# Top-level components in the order they build on each other; anything else follows, by type and name.
_COMPONENT_ORDER = ("infgw:index:ProjectServices", "infgw:index:Region", "infgw:index:Fleet")


def _display_order(resource: PlannedResource) -> tuple[bool, int, str, str]:
    rank = (
        _COMPONENT_ORDER.index(resource.type) if resource.type in _COMPONENT_ORDER else len(_COMPONENT_ORDER)
    )
    return (not resource.is_component, rank, resource.type, resource.name)


def _add_children(node: Tree, plan: Plan, parent_urn: str) -> None:
    children = sorted(plan.children_of(parent_urn), key=_display_order)
    for child in children:
        branch = node.add(_label(child))
        _add_children(branch, plan, child.urn)


def render_plan(plan: Plan, console: Console) -> None:
    """Tree of every planned resource under its component, then counts and outputs."""
    known_urns = {resource.urn for resource in plan.resources}
    roots = sorted(
        {resource.parent_urn for resource in plan.resources if resource.parent_urn not in known_urns}
    )
    tree = Tree(
        f"[bold]Plan[/] for stack [bold]{escape(plan.stack)}[/] of project {escape(plan.project)}: what `pulumi up` would create"
    )
    for root_urn in roots:
        _add_children(tree, plan, root_urn)
    console.print(tree)

    counts = Table(title="Resources per type", title_justify="left")
    counts.add_column("type")
    counts.add_column("count", justify="right")
    for type_token, count in plan.counts().items():
        counts.add_row(type_token, str(count))
    counts.add_row("[bold]total[/]", f"[bold]{sum(plan.counts().values())}[/]")
    console.print(counts)

    if plan.outputs:
        outputs = Table(title="Stack outputs", title_justify="left")
        outputs.add_column("name", no_wrap=True)
        outputs.add_column("value", overflow="fold")
        for name, value in plan.outputs.items():
            if isinstance(value, list):
                shown = "\n".join(_format_value(item) for item in value)
            elif isinstance(value, dict):
                shown = "\n".join(f"{escape(str(key))}: {_format_value(item)}" for key, item in value.items())
            else:
                shown = _format_value(value)
            outputs.add_row(escape(name), shown)
        console.print(outputs)
    console.print(
        "[dim]Offline plan under Pulumi mocks: no cloud calls; values marked (known after apply) are computed by GCP.[/]"
    )
