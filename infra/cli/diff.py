"""`infra diff`: what a change does to every stack it touches, offline, as a pull-request comment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from infra.cli.common import StackName, console, emit_json, fail, fail_config, writable
from infra.config.errors import ConfigError
from infra.workflows import FlagError


def diff(
    base: Annotated[str, typer.Option("--base", help="Git revision to compare with (origin/main, HEAD~1, a SHA).")],
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Only this stack; default: every stack the change affects.")
    ] = None,
    comment: Annotated[
        Path | None, typer.Option("--comment", help="Write the markdown comment to this file instead of stdout.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every change as JSON.")] = False,
    affected: Annotated[
        bool, typer.Option("--affected", help="Only print the affected stacks as a JSON list (for CI); plan nothing.")
    ] = False,
) -> None:
    """Compare the offline plans of the working tree and a git revision, stack by stack.

    The revision is checked out into a temporary git worktree and planned by its own code in a
    subprocess, while this process plans the working tree. A stack is affected when its file,
    its environment's file, or any code changed (tests, docs and CI do not count). Resources are
    matched by URN: creates, updates (with the changed input paths), replaces and deletes, with
    changes to protected resources flagged. An offline estimate: `pulumi preview` is authoritative.
    """
    from infra.config.loader import repo_root
    from infra.workflows import comment as comments
    from infra.workflows import plan_diff

    if comment is not None:
        writable(comment, "--comment")
    root = repo_root()
    try:
        with plan_diff.worktree(root, base) as (base_root, commit):
            head_stacks = plan_diff.stacks_at(root)
            base_stacks = plan_diff.stacks_at(base_root)
            both = dict(sorted((base_stacks | head_stacks).items(), key=lambda item: _order(item[0])))
            if stack is not None and stack not in both:
                raise FlagError(f"--stack: no stack {stack!r} in the working tree or at {base}")
            changed = plan_diff.changed_files(root, commit)
            wanted = [stack] if stack is not None else plan_diff.affected_stacks(changed, both)
            if affected:
                emit_json(wanted)
                return
            code = base_root if (base_root / "infra" / "cli" / "main.py").exists() else _checkout_of(base_root)
            label = f"{base} ({commit[:12]})"
            revision = plan_diff.RevisionPlan(code, base_root, [s for s in wanted if s in base_stacks], label)
            try:
                head = {s: plan_diff.plan_document(s, root) for s in wanted if s in head_stacks}
                before = revision.documents()
            finally:
                revision.close()
    except FlagError as exc:
        fail(str(exc))
    except ConfigError as exc:
        fail_config(exc)
    diffs = [plan_diff.diff_documents(before.get(s), head.get(s), s) for s in wanted]
    text = comments.render_comment(diffs, f"Plan diff: this change vs `{base}` ({commit[:12]})")
    if comment is not None:
        try:
            comment.write_text(text)
        except OSError as exc:
            fail(f"--comment: cannot write {comment} ({exc.strerror or exc})")
        console.print(f"wrote {comment}", soft_wrap=True)
    if as_json:
        emit_json({"base": base, "commit": commit, "stacks": [d.to_json() for d in diffs]})
    elif comment is None:
        typer.echo(text, nl=False)


def _order(stack: str) -> tuple[int, str]:
    """local, staging, platform first (as `infra plan` lists them), then the rest by name."""
    known = [s.value for s in StackName]
    return (known.index(stack) if stack in known else len(known), stack)


def _checkout_of(data_root: Path) -> Path:
    """The checkout's root above a data root inside it (MICRO_INFRA_ROOT pointing into a repository)."""
    for parent in data_root.parents:
        if (parent / "infra" / "cli" / "main.py").exists():
            return parent
    fail(f"--base: the revision has no infra/cli/main.py above {data_root} to plan with")
