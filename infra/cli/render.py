"""`infra render`: the Kubernetes objects a stack declares, as YAML files, from the offline plan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from infra.cli.common import emit_json, fail, fail_config, out
from infra.config.errors import ConfigError


def render(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack to render (stacks/Pulumi.<stack>.yaml).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write; must be new or empty.")],
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory, replacing an earlier render's files.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the index (objects and Helm charts) as JSON.")] = False,
) -> None:
    """Write every Kubernetes object the program declares directly, one YAML file each, offline.

    Files are named <NN>-<kind>-<namespace>-<name>.yaml in plan order; index.yaml lists them and the Helm
    charts and releases, whose objects exist only when Helm runs. Secrets stay masked as [secret]. Without
    --force an existing, non-empty --out is refused; with it, only an earlier render's files are replaced.
    """
    from infra.guardrails import checks
    from infra.guardrails import render as renderer

    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out: {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        fail(f"--out: {out_dir} is not empty; choose a new directory or pass --force to replace an earlier render")
    try:
        (graph,) = checks.planned([stack])
    except ConfigError as exc:
        fail_config(exc)
    try:
        result = renderer.render(graph, out_dir)
    except OSError as exc:
        fail(f"--out: cannot write {out_dir} ({exc.strerror})")
    if as_json:
        emit_json({"out": str(out_dir), **result.index()})
        return
    table = Table(title=f"{stack}: {len(result.objects)} objects in {out_dir}")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for kind, n in sorted(Counter(o["kind"] for o in result.objects).items()):
        table.add_row(kind, str(n))
    out.print(table)
    for chart in result.helm:
        out.print(f"not rendered (Helm, deploy time): {chart['chart']} {chart['version']} in {chart['namespace']}")
