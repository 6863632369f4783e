"""`infra promote`: hand one environment's release pins to the next, for review."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from infra.cli.common import console, emit_json, fail, fail_config, json_errors
from infra.config.errors import ConfigError
from infra.workflows import FlagError

if TYPE_CHECKING:
    from infra.workflows.promote import Promotion

MAX_LISTED = 5
"""Protected changes named in a refusal; the rest are counted."""


def promote(
    source: Annotated[str, typer.Option("--from", help="Environment whose release pins are copied (staging).")],
    target: Annotated[str, typer.Option("--to", help="Environment that receives them (platform).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; write nothing.")] = False,
    allow_undeployed: Annotated[
        bool,
        typer.Option(
            "--allow-undeployed",
            help="Promote even when the source stack is not running these pins, or cannot be checked.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Copy the `release` block (image tags and digests, chart versions) from one environment to another.

    Only `release` changes: domains, sizes, ACME and secrets stay as they are, byte for byte.
    Promotion goes one way: the target's `promote_from` names its only source (platform: staging).
    Refuses when the source stack is not running those pins or cannot be checked (unless
    --allow-undeployed), or when the target's offline plan would delete or replace a protected
    resource. Writes environments/<to>.yaml for review (a pull request) and prints the unified diff;
    `--dry-run` only prints it.
    """
    from infra.config.loader import repo_root
    from infra.workflows import promote as workflow

    json_errors(as_json)
    root = repo_root()
    try:
        promotion = workflow.prepare(source, target, root)
    except FlagError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail_config(exc)
    result: dict[str, Any] = {"from": source, "to": target, "file": promotion.file, "changes": []}
    if promotion.up_to_date:
        _finish(result | {"changed": False, "written": False}, as_json, f"{target} is already up to date with {source}")
        return
    result["deployedCheck"] = _check_deployed(workflow.deployed_release(source, root), promotion, allow_undeployed)
    try:
        diffs = workflow.plan_promotion(promotion, root)
    except ConfigError as exc:
        fail_config(exc)
    except Exception as exc:
        fail(f"promote: the offline plan of {target} failed: {type(exc).__name__}: {exc}")
    refused = [(d.stack, c) for d in diffs for c in d.protected if c.op in ("delete", "replace")]
    if refused:
        named = "; ".join(f"{c.op} {c.type} {c.name} in {stack}" for stack, c in refused[:MAX_LISTED])
        more = f" (+{len(refused) - MAX_LISTED} more)" if len(refused) > MAX_LISTED else ""
        fail(f"promote: refused: the change would {named}{more}; protected resources change only by hand")
    if not dry_run:
        workflow.write(root, promotion)
    result |= {
        "changed": True,
        "written": not dry_run,
        "changes": list(promotion.changes),
        "plan": {d.stack: d.counts for d in diffs},
        "diff": promotion.unified_diff(),
    }
    if as_json:
        emit_json(result)
        return
    sys.stdout.write(promotion.unified_diff())
    for diff in diffs:
        counts = ", ".join(f"{n} {op}" for op, n in diff.counts.items() if n) or "no changes"
        console.print(f"{diff.stack}: {counts} (offline estimate)", soft_wrap=True)
    done = "dry run: nothing written" if dry_run else f"wrote {promotion.file}; open a pull request with it"
    console.print(done, soft_wrap=True)


def _check_deployed(deployed: dict[str, Any] | None, promotion: Promotion, allowed: bool) -> str:
    """Is the source stack running the pins it hands on? Refuses unless it is, or --allow-undeployed."""
    source = promotion.source
    if deployed is None:
        problem = f"cannot read stack {source}'s outputs (no pulumi CLI, credentials or backend here)"
    elif deployed != promotion.release:
        from infra.workflows.promote import release_changes

        differs = release_changes(deployed, promotion.release) if deployed else ["it has no release output"]
        problem = f"stack {source} is not running environments/{source}.yaml's release ({'; '.join(differs[:3])})"
    else:
        return "matched"
    if not allowed:
        fail(
            f"--from: {problem}; deploy {source} first (or point PULUMI_BACKEND_URL at its state), "
            "or pass --allow-undeployed to promote pins nobody has run"
        )
    console.print(f"warning: --allow-undeployed: {problem}", soft_wrap=True)
    return "skipped" if deployed is None else "overridden"


def _finish(result: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        emit_json(result)
    else:
        console.print(message, soft_wrap=True)
