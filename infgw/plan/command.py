"""`infgw plan`: validate a stack's config, plan it offline, print the tree, optionally write JSON.

Exit codes: 0 planned; 1 a mandatory policy (policies/) is violated; 2 bad stack config, stack file or
policy config (one line per problem, no traceback), or a deploy rehearsal finding (`pulumi up` would not
finish: a readiness cycle, a budget shorter than the expected wait, more GPUs asked than the cluster has).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from components.config import CONFIG_ERROR_EXIT_CODE, ConfigError, validate_stack_config
from components.config.sources import StackFileError, find_project_dir, read_stack

INVALID_CONFIG_EXIT = CONFIG_ERROR_EXIT_CODE


def plan(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack to plan (reads Pulumi.<stack>.yaml).")
    ] = "dev",
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json", dir_okay=False, help="Also write the full plan (every resource and input) to this file."
        ),
    ] = None,
    manifests_dir: Annotated[
        Path | None,
        typer.Option(
            "--manifests",
            file_okay=False,
            help="Also write every Kubernetes object as kubectl-ready YAML: DIR/<cluster>/NN-<kind>-<name>.yaml.",
        ),
    ] = None,
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project-dir",
            exists=True,
            file_okay=False,
            help="Directory holding Pulumi.yaml (default: nearest above cwd).",
        ),
    ] = None,
    deploy_order_file: Annotated[
        Path | None,
        typer.Option(
            "--deploy-order",
            exists=True,
            dir_okay=False,
            help="Rewrite the deploy-order block of this Markdown file (docs/deploying.md) from the rehearsal.",
        ),
    ] = None,
    policy_config_file: Annotated[
        Path | None,
        typer.Option(
            "--policy-config",
            help="Policy pack config JSON (the `pulumi preview --policy-pack-config` format).",
        ),
    ] = None,
) -> None:
    """Show every resource `pulumi up` would create for STACK, offline, under Pulumi mocks."""
    err = typer.echo
    try:
        directory = project_dir.resolve() if project_dir else find_project_dir()
        raw = read_stack(stack, directory)
        stack_config = validate_stack_config(raw)
    except StackFileError as error:
        err(str(error), err=True)
        raise typer.Exit(INVALID_CONFIG_EXIT) from None
    except ConfigError as error:
        for problem in error.problems:
            err(str(problem), err=True)
        raise typer.Exit(INVALID_CONFIG_EXIT) from None

    # Imported only now: the Pulumi SDKs take seconds to load and --help or a config error should not wait.
    from rich.console import Console

    from infgw.plan.policy_check import POLICY_VIOLATION_EXIT, check_plan, load_policy_config
    from infgw.plan.recorder import PlanRecorder
    from infgw.plan.render import render_plan
    from infgw.plan.runner import run_program
    from policies.rule import PolicyConfigError

    try:
        policy_config = load_policy_config(policy_config_file, stack_config)
    except PolicyConfigError as error:
        err(str(error), err=True)
        raise typer.Exit(INVALID_CONFIG_EXIT) from None

    if raw.environments:
        err(
            f"note: {raw.source} imports ESC environments ({', '.join(raw.environments)}); the offline plan "
            "sees only the file's own config: values (run `pulumi preview` for the full picture)",
            err=True,
        )
    recorder = PlanRecorder.install(project=raw.project, stack=raw.stack)
    result = run_program(recorder, raw, directory / "__main__.py")
    render_plan(result, Console())
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        typer.echo(f"Full plan written to {json_file}")
    if manifests_dir is not None:
        from infgw.plan.manifests import manifests_by_cluster, write_manifests
        from infgw.plan.model import UNKNOWN

        written = write_manifests(
            manifests_dir, manifests_by_cluster(result.resources), unknown_marker=UNKNOWN
        )
        for cluster, paths in written.items():
            typer.echo(f"{len(paths)} manifests for {cluster} written to {manifests_dir / cluster}")
    from infgw.plan.rehearsal import rehearse
    from infgw.plan.rehearsal_report import print_rehearsal, write_deploy_order

    rehearsal = rehearse(result)
    print_rehearsal(rehearsal, Console())
    if deploy_order_file is not None:
        try:
            write_deploy_order(rehearsal, deploy_order_file)
        except ValueError as error:  # the file has no deploy-order block to rewrite
            err(f"--deploy-order: {error}", err=True)
            raise typer.Exit(INVALID_CONFIG_EXIT) from None
    policies_pass = check_plan(result, policy_config, Console())
    if not rehearsal.ok:
        raise typer.Exit(INVALID_CONFIG_EXIT)
    if not policies_pass:
        raise typer.Exit(POLICY_VIOLATION_EXIT)
