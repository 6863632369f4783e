"""`infra check`: the policy pack's rules over the offline plan, without the Pulumi CLI."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from infra.cli.common import committed_stacks, console, emit_json, fail_config, out
from infra.config.errors import ConfigError

MANDATORY_FAILED = 1


def check(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack to check (stacks/Pulumi.<stack>.yaml); default: all.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the violations as JSON.")] = False,
) -> None:
    """Run the CrossGuard policy pack (policy/) over the offline plan of each stack.

    The same rules run in `pulumi preview --policy-pack policy`. Prints every violation; exits 1 when a
    mandatory policy is violated, 0 when only advisories (or nothing) are found, 2 on bad input.
    """
    from infra.guardrails import checks

    names = [stack] if stack is not None else committed_stacks()  # --stack '' is a bad name, not all
    try:
        graphs = checks.planned(names)
    except ConfigError as exc:
        fail_config(exc)
    results = {graph.stack: checks.check_graph(graph) for graph in graphs}
    module = checks.policies()
    failed = any(v.mandatory for found in results.values() for v in found)
    if as_json:
        emit_json(
            {
                "policies": [
                    {"name": p.name, "enforcement": p.enforcement, "description": p.description}
                    for p in module.POLICIES
                ],
                "stacks": {
                    name: {
                        "mandatory": sum(v.mandatory for v in found),
                        "advisory": sum(not v.mandatory for v in found),
                        "violations": [v.as_dict() for v in found],
                    }
                    for name, found in results.items()
                },
                "passed": not failed,
            }
        )
    else:
        mandatory = sum(p.enforcement == module.MANDATORY for p in module.POLICIES)
        for name, found in results.items():
            if found:
                out.print(_table(name, found))
            mandatory_found = sum(v.mandatory for v in found)
            verdict = "[red]FAILED[/]" if mandatory_found else "[green]passed[/]"
            out.print(
                f"{name}: {verdict}: {mandatory_found} mandatory and {len(found) - mandatory_found} advisory "
                f"violations ({len(module.POLICIES)} policies, {mandatory} mandatory)"
            )
    if failed:
        console.print("infra check: mandatory policies are violated")
        raise typer.Exit(MANDATORY_FAILED)


def _table(stack: str, found: list) -> Table:
    """One row per violation, mandatory first. Policy names never wrap; the URN sits under the message."""
    table = Table(title=f"{stack}: policy violations", show_lines=True)
    table.add_column("policy", no_wrap=True)
    table.add_column("resource", overflow="fold", ratio=1)
    table.add_column("message and URN", overflow="fold", ratio=2)
    for v in sorted(found, key=lambda v: (not v.mandatory, v.policy, v.urn)):
        level = "[red]mandatory[/]" if v.mandatory else "[yellow]advisory[/]"
        resource = f"{v.resource_type.rsplit(':', 1)[-1]} {v.resource_name}"
        table.add_row(f"{v.policy}\n{level}", resource, f"{escape(v.message)}\n[dim]{escape(v.urn)}[/]")
    return table
