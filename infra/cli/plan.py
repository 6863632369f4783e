"""`infra plan`: what every stack would create, offline, from the real program under mocks."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.cli.common import committed_stacks, emit_json, fail_config, out
from infra.config.errors import ConfigError


def plan_stacks(stacks: list[str]) -> list:
    """Load, validate and plan each stack; all stacks are validated before any is planned."""
    from infra.config.loader import load_stack

    loaded = [load_stack(name) for name in stacks]
    from infra.plan.engine import run  # after validation: bad input never pays for the SDK import
    from infra.program import program_for

    return [run(program_for(stack), stack.name, stack.config) for stack in loaded]


def plan(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack to plan (stacks/Pulumi.<stack>.yaml); default: all.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a `pulumi preview --json`-shaped document.")] = False,
    tree: Annotated[bool, typer.Option("--tree/--no-tree", help="Show the resource tree.")] = True,
) -> None:
    """Plan stacks offline: no Pulumi CLI, no credentials, no network.

    Runs the real program with the stack's real config under Pulumi's mock runtime and shows
    every resource it would create, with secrets masked and deploy-time values unknown.
    """
    names = [stack] if stack is not None else committed_stacks()  # --stack '' is a bad name, not all
    try:
        graphs = plan_stacks(names)
    except ConfigError as exc:
        fail_config(exc)
    from infra.plan import report

    if as_json:
        docs = [report.preview_document(g) for g in graphs]
        emit_json(docs[0] if stack is not None else {"stacks": {d["stack"]: d for d in docs}})
        return
    for graph in graphs:
        if tree:
            out.print(report.tree(graph))
        out.print(report.count_table(graph))
