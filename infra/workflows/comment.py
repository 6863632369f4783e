"""A pull-request comment from per-stack plan diffs: protected changes first, then counts, then each change.

Shared by `infra diff --comment` (offline, two revisions) and `infra preview --comment` (the real
engine). The layout lives in templates/pr-comment.md.j2; this module only shapes the data.
"""

from __future__ import annotations

from typing import Any

from infra.workflows import render
from infra.workflows.plan_diff import OPS, ResourceChange, StackDiff

MARKER = "<!-- micro-infra:plan-diff -->"
"""First line of every comment: CI finds its previous comment by it and edits it in place."""

OFFLINE_NOTE = (
    "Offline estimate from two `infra plan` runs, compared by URN. `pulumi preview` against the deployed "
    "state is authoritative: it knows every provider's replace rules and sees changes inside secrets."
)

MAX_ITEMS = 15
"""Changes listed per kind and stack; the rest are counted (the command's --json has them all)."""
MAX_PATHS = 3
"""Changed input paths shown per update."""
MAX_PATH_CHARS = 70

_TITLES = {"create": "Creates", "update": "Updates", "replace": "Replaces", "delete": "Deletes"}


def render_comment(
    stack_diffs: list[StackDiff], title: str, note: str = OFFLINE_NOTE, full_listing: str = "infra diff --json"
) -> str:
    """Markdown for one PR comment covering every stack in `stack_diffs`; `full_listing` lists what is cut."""
    protected = [_item(c, d.stack) for d in stack_diffs for c in d.protected]
    data = [_item(c, d.stack) for d in stack_diffs for c in d.data]
    return render(
        "pr-comment.md.j2",
        marker=MARKER,
        title=title,
        note=note,
        protected=protected[:MAX_ITEMS],
        protected_total=len(protected),
        data=data[:MAX_ITEMS],
        data_total=len(data),
        stacks=[_stack(d) for d in stack_diffs],
        any_change=any(not d.empty for d in stack_diffs),
        full_listing=full_listing,
    )


def _stack(diff: StackDiff) -> dict[str, Any]:
    sections = []
    for op in OPS:
        changes = diff.of(op)
        if changes:
            items = [_item(c, diff.stack) for c in changes[:MAX_ITEMS]]
            sections.append({"title": _TITLES[op], "total": len(changes), "items": items})
    return {"name": diff.stack, "counts": diff.counts, "notes": list(diff.notes), "sections": sections}


def _item(change: ResourceChange, stack: str) -> dict[str, Any]:
    if change.op == "replace":
        detail = "replaced because " + _paths(change.replace_paths)
    elif change.op == "update":
        detail = _paths(change.paths)
    else:
        detail = ""
    return {
        "op": change.op,
        "type": change.type,
        "name": change.name,
        "stack": stack,
        "protected": change.protected and change.op != "create",
        "data": change.holds_data,
        "detail": detail,
    }


def _paths(paths: tuple[str, ...]) -> str:
    """The first few changed paths, each cut to a readable length, and how many more there are."""
    shown = [p if len(p) <= MAX_PATH_CHARS else p[: MAX_PATH_CHARS - 1] + "…" for p in paths[:MAX_PATHS]]
    text = ", ".join(f"`{p}`" for p in shown)
    if len(paths) > MAX_PATHS:
        text += f" +{len(paths) - MAX_PATHS} more"
    return text
