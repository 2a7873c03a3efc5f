"""The `infgw` typer app: assembly only. Each command lives in its own package and registers here."""

from __future__ import annotations

import typer

from infgw.local.command import local
from infgw.local.regions.command import region_app
from infgw.plan.command import plan

app = typer.Typer(
    name="infgw",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """GKE Inference Gateway tools: plan what `pulumi up` would build (offline), or serve a stack locally."""


app.command("plan")(plan)
app.command("local")(local)
app.add_typer(region_app)
