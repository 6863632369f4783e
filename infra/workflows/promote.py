"""`infra promote`: copy one environment's `release` pins into another, and nothing else.

The target file keeps every byte outside its `release:` block (domains, sizes, ACME, comments);
the block is re-rendered from templates/release.yaml.j2 with the source's values. The result
must load as an Environment that equals the old one except for `release`, or nothing is written.

Before the change goes to review, two checks guard it: the source stack must be running the
pins it hands on (its `release` output, read through the engine when one is reachable), and the
target's offline plan before vs after must not delete or replace a protected resource.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config.errors import ConfigError, Problem
from infra.config.loader import (
    PROJECT,
    copy_inputs,
    environment_names,
    load_environment,
    read_file,
    read_yaml,
    stack_file,
    stack_names,
)
from infra.config.model import Environment
from infra.workflows import FlagError, render
from infra.workflows.plan_diff import StackDiff, diff_documents, plan_document

_RELEASE_KEY = re.compile(r"^release:\s*(#.*)?$")


@dataclass(frozen=True)
class Promotion:
    source: str
    target: str
    file: str
    """The target environment file, relative to the repository root."""
    before: str
    after: str
    release: dict[str, Any]
    """The source's release pins (JSON form), which the target will carry."""
    changes: tuple[str, ...]
    """One line per pin that changes: `release.micro.tag: old → new`."""

    @property
    def up_to_date(self) -> bool:
        return not self.changes

    def unified_diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{self.file}",
                tofile=f"b/{self.file}",
            )
        )


def prepare(source: str, target: str, root: Path) -> Promotion:
    """Load both environments and compute the target's new text; nothing is written.

    Raises FlagError (unknown or identical environments, or a target whose `promote_from` is not the
    source) or ConfigError (invalid files, or an edit that would change more than `release`).
    """
    known = environment_names(root)
    for flag, name in (("--from", source), ("--to", target)):
        if name not in known:
            raise FlagError(f"{flag}: no environment {name!r}; environments: {', '.join(known)}")
    if source == target:
        raise FlagError(f"--to: {target} is also the source; promote from one environment to another")
    rel = f"environments/{target}.yaml"
    dst = _load(root, target)
    if dst.promote_from != source:
        takes = f"takes release pins from {dst.promote_from} only" if dst.promote_from else "takes no promotions"
        raise FlagError(f"--from: {rel} {takes} (its promote_from); promotion goes one way")
    src = _load(root, source)
    before = read_file(root / rel, rel).decode()
    release = src.release.model_dump(mode="json")
    changes = tuple(release_changes(dst.release.model_dump(mode="json"), release))
    if not changes:
        return Promotion(source, target, rel, before, before, release, ())
    block = render("release.yaml.j2", release=release, source=source)
    try:
        after = replace_release_block(before, block)
    except ValueError as exc:
        raise ConfigError([Problem(rel, "release", f"{exc}; copy the pins by hand")]) from None
    _check(root, rel, after, src, dst)
    return Promotion(source, target, rel, before, after, release, changes)


def replace_release_block(text: str, block: str) -> str:
    """`text` with its top-level `release:` block replaced by `block`; every other byte kept.

    The block runs from `release:` to its last indented line; blank lines and column-0
    comments after that belong to what follows and stay.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _RELEASE_KEY.match(line)), None)
    if start is None:
        raise ValueError("no block-style top-level `release:` key")
    last = start
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            break
        last = i
    return "".join(lines[:start]) + block + "".join(lines[last + 1 :])


def release_changes(old: Any, new: Any, path: str = "release") -> list[str]:
    """`path: old → new` for every pin that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [c for key in {**old, **new} for c in release_changes(old.get(key), new.get(key), f"{path}.{key}")]
    return [] if old == new else [f"{path}: {old} → {new}"]


def target_stacks(target: str, root: Path) -> list[str]:
    """Every stack whose file names environment `target` (its primary and region stacks)."""
    stacks = []
    for name in stack_names(root):
        config = read_yaml(stack_file(name, root), f"stacks/Pulumi.{name}.yaml").get("config") or {}
        if isinstance(config, dict) and config.get(f"{PROJECT}:environment") == target:
            stacks.append(name)
    return stacks


def plan_promotion(promotion: Promotion, root: Path) -> list[StackDiff]:
    """Each target stack's offline plan before vs after the promotion."""
    stacks = target_stacks(promotion.target, root)
    with tempfile.TemporaryDirectory(prefix="infra-promote-") as tmp:
        after_root = Path(tmp)
        copy_inputs(root, after_root)
        (after_root / promotion.file).write_text(promotion.after)
        return [diff_documents(plan_document(s, root), plan_document(s, after_root), s) for s in stacks]


def deployed_release(stack: str, root: Path | None = None) -> dict[str, Any] | None:
    """The `release` output of `stack` as deployed; None when the engine or its backend cannot be reached.

    Reads the stack's outputs through infra/engine.py (the Automation API). A stack the backend
    has no state for, or one without a `release` output, was never deployed with pins: {}.
    """
    from infra.config.errors import ConfigError
    from infra.engine import EngineError, SetupError, prepare

    try:
        prepared = prepare(stack, root)
    except (SetupError, ConfigError):  # no CLI, passphrase or credentials here: the check cannot be made
        return None
    try:
        outputs = prepared.open().outputs()
    except SetupError:  # the backend has no state for this stack
        return {}
    except EngineError:  # the backend is unreachable
        return None
    value = outputs.get("release")
    return value.value if value is not None and isinstance(value.value, dict) else {}


def write(root: Path, promotion: Promotion) -> None:
    """Replace the target file in one rename, so a reader never sees half a file."""
    target = root / promotion.file
    tmp = target.with_name(f".{target.name}.infra-tmp")
    try:
        tmp.write_text(promotion.after)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _load(root: Path, name: str) -> Environment:
    return load_environment(root / "environments" / f"{name}.yaml", f"environments/{name}.yaml")


def _check(root: Path, rel: str, after: str, src: Environment, dst: Environment) -> None:
    """The edited file must validate and differ from the old one in `release` only."""
    with tempfile.TemporaryDirectory(prefix="infra-promote-") as tmp:
        path = Path(tmp) / Path(rel).name
        path.write_text(after)
        edited = load_environment(path, rel)
        old_data = read_yaml(root / rel, rel)
        new_data = read_yaml(path, rel)
    if edited.release != src.release or edited.model_dump(exclude={"release"}) != dst.model_dump(exclude={"release"}):
        raise ConfigError([Problem(rel, "release", "the edit changed more than the release pins; nothing written")])
    if {k: v for k, v in old_data.items() if k != "release"} != {k: v for k, v in new_data.items() if k != "release"}:
        raise ConfigError([Problem(rel, "", "the edit touched keys outside `release`; nothing written")])
