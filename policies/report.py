"""Prints a pack run for people: one row per violation (level, rule, resource, message), then a summary.

Used by the offline plan; the Pulumi CLI prints its own report for ``pulumi preview --policy-pack``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pulumi_policy import EnforcementLevel
from rich.console import Console

from policies.offline import PackReport
from policies.pack import PACK_NAME, RULES

_LEVEL_STYLE: Mapping[EnforcementLevel, str] = MappingProxyType(
    {EnforcementLevel.MANDATORY: "bold red", EnforcementLevel.ADVISORY: "yellow"}
)


def render_report(report: PackReport, console: Console, *, rule_count: int = len(RULES)) -> None:
    if report.remediations:
        console.print(f"[cyan]Remediated {len(report.remediations)} resource(s):[/]")
        for remediation in report.remediations:
            console.print(f"  {remediation.rule}: {remediation.resource_name}")
    if not report.violations:
        console.print(f"[green]Policy pack {PACK_NAME}: {rule_count} rules, no violations.[/]")
        _print_deferred(report, console)
        return
    console.print(f"[bold]Policy pack {PACK_NAME}[/]: {len(report.violations)} violation(s)")
    ordered = sorted(report.violations, key=lambda v: (v.level is not EnforcementLevel.MANDATORY, v.rule))
    for violation in ordered:
        style = _LEVEL_STYLE.get(violation.level, "")
        console.print(f"[{style}]{violation.level.value.upper()}[/] {violation.rule}", highlight=False)
        console.print(f"  resource: {violation.resource_label}", highlight=False, soft_wrap=True)
        console.print(f"  {violation.message}", highlight=False)
    mandatory, advisory = len(report.mandatory), len(report.violations) - len(report.mandatory)
    verdict = "[bold red]blocked[/]" if mandatory else "[green]allowed[/]"
    console.print(f"Policy pack {PACK_NAME}: {mandatory} mandatory, {advisory} advisory violation(s); {verdict}.")
    _print_deferred(report, console)


def _print_deferred(report: PackReport, console: Console) -> None:
    if report.not_applicable:
        rules = sorted({entry.rule for entry in report.not_applicable})
        console.print(f"[dim]Not evaluated (values known only after apply): {', '.join(rules)}[/]")
