"""`infra stack ...`: manage stack files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from infra.cli.common import console, emit_json, fail, fail_config, out
from infra.config.errors import ConfigError
from infra.workflows import FlagError

if TYPE_CHECKING:
    from infra.config.loader import Stack
    from infra.plan.engine import Graph

app = typer.Typer(help="Manage stacks (stacks/Pulumi.<stack>.yaml).", no_args_is_help=True)


@app.command("new")
def new(
    env: Annotated[str, typer.Option("--env", help="Environment to extend (environments/<env>.yaml).")],
    cloud: Annotated[str, typer.Option("--cloud", help="Cloud of the new cluster; only azure builds regions.")],
    region: Annotated[str, typer.Option("--region", help="Azure region of the new cluster, e.g. westeurope.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print {stack, files, changeSummary}.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write the files without asking.")] = False,
) -> None:
    """Add a region stack <env>-<region>: one more cluster of an environment, sharing its DNS zones.

    Writes stacks/Pulumi.<env>-<region>.yaml; adds the region to environments/<env>.yaml if it is
    not there (sized like the primary region); pins stacks/Pulumi.<env>.yaml to the regions it
    builds today. Everything is validated and planned offline before any file is written, and
    without --yes it asks first.
    """
    from infra.config.loader import repo_root
    from infra.workflows import stack_new

    root = repo_root()
    try:
        new_stack = stack_new.prepare(env, cloud, region, root)
        with stack_new.staged(root, new_stack) as copy:
            loaded = stack_new.validate(copy, new_stack)
            graph = _plan(loaded)
    except FlagError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail_config(exc)
    from infra.plan import report

    document = report.preview_document(graph)
    if not yes and not _confirmed(f"Write {', '.join(e.path for e in new_stack.edits)}?"):
        fail("stack new: nothing written (answer y, or pass --yes)")
    try:
        stack_new.write(root, new_stack.edits)
    except OSError as exc:
        fail(f"stack new: could not write the files ({exc.strerror or exc}); every file was put back", code=1)
    if as_json:
        emit_json(
            {
                "stack": new_stack.stack,
                "files": [e.path for e in new_stack.edits],
                "changeSummary": document["changeSummary"],
            }
        )
        return
    for edit in new_stack.edits:
        console.print(f"{'created' if edit.before is None else 'updated'} {edit.path}: {edit.summary}", soft_wrap=True)
    out.print(report.count_table(graph))


@app.command("list")
def list_stacks(
    env: Annotated[str | None, typer.Option("--env", help="Only the stacks of this environment.")] = None,
    regional: Annotated[
        bool | None,
        typer.Option("--regional/--primary", help="Only region stacks (zones from another stack), or only the rest."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print [{stack, environment, cloud, regions, zonesStack}].")
    ] = False,
) -> None:
    """List the stacks with their environment, cloud, regions and the stack owning their DNS zones.

    Every stack file is loaded and validated, so a broken one fails the listing (exit 2) instead of
    dropping out of a CI matrix. CI deploys region stacks after their primary: `--env staging --regional`.
    """
    from infra.cli.common import committed_stacks
    from infra.config.loader import load_stack

    try:
        loaded = [load_stack(name) for name in committed_stacks()]
    except ConfigError as exc:
        fail_config(exc)
    known = sorted({s.settings.environment for s in loaded})
    if env is not None and env not in known:
        fail(f"--env: no stack uses environment {env!r}; environments with stacks: {', '.join(known)}")
    selected = [
        s
        for s in loaded
        if (env is None or s.settings.environment == env)
        and (regional is None or (s.settings.zones_stack is not None) == regional)
    ]
    if as_json:
        emit_json(
            [
                {
                    "stack": s.name,
                    "environment": s.settings.environment,
                    "cloud": s.environment.cloud.value,
                    "regions": [r.name for r in s.regions],
                    "zonesStack": s.settings.zones_stack,
                }
                for s in selected
            ]
        )
        return
    from rich.table import Table

    table = Table(title=f"{len(selected)} stacks")
    for column in ("stack", "environment", "cloud", "regions", "zones from"):
        table.add_column(column)
    for s in selected:
        regions = ", ".join(r.name for r in s.regions)
        table.add_row(s.name, s.settings.environment, s.environment.cloud.value, regions, s.settings.zones_stack or "")
    out.print(table)


def _confirmed(question: str) -> bool:
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:  # no terminal to answer from
        return False


def _plan(loaded: Stack) -> Graph:
    """The new stack's offline plan; a program failure is bad input here (exit 2), not a crash."""
    from infra.plan.engine import run
    from infra.program import program_for

    try:
        return run(program_for(loaded), loaded.name, loaded.config)
    except Exception as exc:
        fail(f"stack new: the offline plan of {loaded.name} failed, nothing written: {type(exc).__name__}: {exc}")
