"""Present a planned graph: a `pulumi preview --json`-shaped document, a tree and counts for people."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table
from rich.tree import Tree

from infra.plan.engine import Graph, Registration


def preview_document(graph: Graph) -> dict[str, Any]:
    """The shape of `pulumi preview --json`: steps with op/urn/newState, and a change summary.

    Every step is a create: the offline plan compares against nothing. `infra diff` compares two
    plans to find updates, replaces and deletes.
    """
    steps = [
        {
            "op": "create",
            "urn": r.urn,
            "provider": r.provider,
            "newState": {
                "type": r.type,
                "urn": r.urn,
                "custom": r.custom,
                "parent": r.parent,
                "protect": r.protect,
                "retainOnDelete": r.retain_on_delete,
                "provider": r.provider,
                "inputs": r.inputs,
                "dependencies": r.dependencies,
            },
        }
        for r in graph.registrations
    ]
    return {
        "stack": graph.stack,
        "steps": steps,
        "outputs": graph.outputs,
        "changeSummary": {"create": len(steps)},
    }


def counts(graph: Graph) -> Counter[str]:
    return Counter(r.type for r in graph.registrations)


def count_table(graph: Graph) -> Table:
    table = Table(title=f"{graph.stack}: {len(graph.registrations)} resources", show_lines=False)
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_, n in sorted(counts(graph).items()):
        table.add_row(type_, str(n))
    return table


def tree(graph: Graph) -> Tree:
    """Resources under their parents, as `pulumi preview` lists them."""
    children: dict[str, list[Registration]] = {}
    root: Registration | None = None
    for r in graph.registrations:
        if r.type == "pulumi:pulumi:Stack":
            root = r
        else:
            children.setdefault(r.parent, []).append(r)
    assert root is not None
    top = Tree(f"[bold]{root.type}[/] {root.name}")

    def add(node: Tree, urn: str) -> None:
        for r in sorted(children.get(urn, []), key=lambda c: (c.type, c.name)):
            flags = " [yellow]protected[/]" if r.protect else ""
            add(node.add(f"[cyan]{r.type}[/] {r.name}{flags}"), r.urn)

    add(top, root.urn)
    return top
