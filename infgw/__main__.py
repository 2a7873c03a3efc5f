"""`python -m infgw ...` runs the same typer app as the `infgw` console script."""

from __future__ import annotations

from infgw.cli import app

if __name__ == "__main__":
    app()
