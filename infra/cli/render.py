"""`infra render`: the Kubernetes objects a stack declares, as YAML files, from the offline plan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from infra.cli.common import emit_json, fail, fail_config, out
from infra.config.errors import ConfigError, printable
from infra.guardrails import render as renderer


def render(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack to render (stacks/Pulumi.<stack>.yaml).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write; must be new or empty.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory, replacing an earlier render's files.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the index (objects and Helm charts) as JSON.")] = False,
    checkov: Annotated[
        bool,
        typer.Option(
            "--checkov", help="Scan the render with checkov (skips: checkov-skips.yaml); exit 1 on a failure."
        ),
    ] = False,
) -> None:
    """Write every Kubernetes object the program declares directly, one YAML file each, offline.

    Files are named <NN>-<kind>-<namespace>-<name>.yaml in plan order; index.yaml lists them and the Helm
    charts and releases, whose objects exist only when Helm runs. Secrets stay masked as [secret]. Without
    --force an existing, non-empty --out is refused; with it, only an earlier render's files are replaced.
    --checkov needs the venv from scripts/ensure-tool-venvs.
    """
    from infra.guardrails import checks

    if printable(out_dir) != str(out_dir):
        fail(f"--out: {printable(out_dir)} has control characters; name a plain directory")
    try:
        if out_dir.exists() and not out_dir.is_dir():
            fail(f"--out: {out_dir} exists and is not a directory")
        occupied = out_dir.is_dir() and any(out_dir.iterdir())
    except OSError as exc:
        fail(f"--out: cannot use {printable(out_dir)} ({exc.strerror})")
    if occupied and not force:
        fail(f"--out: {out_dir} is not empty; choose a new directory or pass --force to replace an earlier render")
    try:
        (graph,) = checks.planned([stack])
    except ConfigError as exc:
        fail_config(exc)
    try:
        result = renderer.render(graph, out_dir)
    except OSError as exc:
        fail(f"--out: cannot write {out_dir} ({exc.strerror})")
    scan = None
    if checkov:
        try:
            scan = renderer.run_checkov(out_dir)
        except renderer.CheckovUnavailable as exc:
            fail(f"--checkov: {exc}")
    if as_json:
        emit_json({"out": str(out_dir), **result.index(), **({"checkov": _scan_document(scan)} if scan else {})})
    else:
        _print(stack, out_dir, result, scan)
    if scan is not None and scan.failed:
        raise typer.Exit(1)


def _scan_document(scan: renderer.CheckovResult) -> dict:
    return {**scan.summary(), "failedChecks": scan.failed, "skippedChecks": scan.skipped}


def _print(stack: str, out_dir: Path, result: renderer.Rendered, scan: renderer.CheckovResult | None) -> None:
    table = Table(title=f"{stack}: {len(result.objects)} objects in {out_dir}")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind, n in sorted(Counter(o["kind"] for o in result.objects).items()):
        table.add_row(kind, str(n))
    out.print(table)
    for chart in result.helm:
        out.print(f"not rendered (Helm, deploy time): {chart['chart']} {chart['version']} in {chart['namespace']}")
    if scan is None:
        return
    for finding in scan.failed:
        out.print(f"[red]FAILED[/] {finding['check_id']} {finding['name']}: {finding['resource']} ({finding['file']})")
    summary = scan.summary()
    out.print(
        f"checkov: {summary['passed']} passed, {summary['skipped']} skipped (checkov-skips.yaml), "
        f"{summary['failed']} failed"
    )
