"""`infra stack new`: add a region stack to an Azure environment, all files or none.

A region stack (`<env>-<region>`) builds one more cluster of the environment. It reads the DNS
zones from the environment's primary stack (`<env>`) through a StackReference and publishes only
region-scoped records, so three files take part:

- stacks/Pulumi.<env>-<region>.yaml, new, from templates/stack.yaml.j2;
- environments/<env>.yaml, which must describe the region: if it does not, a region entry sized
  like the primary region is appended to `regions:` (a text edit, so comments stay);
- stacks/Pulumi.<env>.yaml, pinned to its current regions if it builds "all regions", or it would
  start building the new region too.

Every edit is made and checked (validation, then an offline plan of the new stack) in a copy of
environments/ and stacks/; only then are the files swapped in, and a failed swap puts back the
files it had already replaced.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.azure import naming
from infra.config.errors import ConfigError, Problem
from infra.config.loader import (
    PROJECT,
    STACK_NAME,
    Stack,
    copy_inputs,
    environment_names,
    load_environment,
    load_stack,
    parse_yaml,
    read_file,
    read_yaml,
    stack_file,
)
from infra.config.model import Cloud, Environment
from infra.config.regions import AZURE_REGIONS
from infra.workflows import FlagError, render

BUILDABLE_CLOUDS = (Cloud.azure.value,)
"""Clouds a region stack can be built on; kind has exactly one region (the `local` environment)."""

_CLUSTER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9]$")
_STORAGE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")


@dataclass(frozen=True)
class FileEdit:
    """One file the command writes, relative to the repository root."""

    path: str
    before: bytes | None
    """None: the file is new."""
    after: bytes
    summary: str


@dataclass(frozen=True)
class NewStack:
    stack: str
    primary: str
    """The environment's primary stack, which owns the DNS zones."""
    edits: tuple[FileEdit, ...]


def prepare(env: str, cloud: str, region: str, root: Path) -> NewStack:
    """Check the flags and compute every file edit; nothing is written.

    Raises FlagError (a flag's value cannot be used) or ConfigError (a file is invalid).
    """
    known = environment_names(root)
    if env not in known:
        raise FlagError(f"--env: no environment {env!r}; environments: {', '.join(known)}")
    if cloud not in BUILDABLE_CLOUDS:
        raise FlagError(
            f"--cloud: region stacks can be built on {', '.join(BUILDABLE_CLOUDS)} only (got {cloud!r}; "
            "kind is only for the single-region local environment)"
        )
    environment = load_environment(root / "environments" / f"{env}.yaml", f"environments/{env}.yaml")
    if environment.cloud.value != cloud:
        raise FlagError(
            f"--env: {env} is a {environment.cloud.value} environment; region stacks can be built on "
            f"{', '.join(BUILDABLE_CLOUDS)} environments only"
        )
    if region not in AZURE_REGIONS:
        close = difflib.get_close_matches(region, sorted(AZURE_REGIONS), n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else "see infra/config/regions.py"
        raise FlagError(f"--region: {region!r} is not an Azure region with availability zones; {hint}")
    stack = f"{env}-{region}"
    problems = naming_problems(env, region)
    if problems:
        raise FlagError(f"--region: stack {stack!r} breaks the naming rules: {'; '.join(problems)}")
    if os.path.lexists(stack_file(stack, root)):
        raise FlagError(f"--region: stack {stack} already exists (stacks/Pulumi.{stack}.yaml)")
    if not os.path.lexists(stack_file(env, root)):
        raise FlagError(f"--env: {env} has no primary stack (stacks/Pulumi.{env}.yaml) to own its DNS zones")
    primary = load_stack(env, root)
    built = [r.name for r in primary.regions]
    if region in built:
        raise FlagError(
            f"--region: {region} is already built by stack {env}; a region stack adds a region "
            f"the primary stack does not build (it builds {', '.join(built)})"
        )
    edits = [_stack_edit(stack, env, region)]
    if region not in {r.name for r in environment.regions}:
        edits.append(_environment_edit(root, environment, built[0], region, stack))
    if primary.settings.regions is None:
        edits.append(_pin_edit(root, primary, built))
    return NewStack(stack, env, tuple(edits))


def naming_problems(env: str, region: str) -> list[str]:
    """Every naming rule the stack `<env>-<region>` and its Azure resources would break."""
    stack = f"{env}-{region}"
    problems = []
    if not STACK_NAME.fullmatch(stack):
        problems.append(f"stack names match {STACK_NAME.pattern}")
    cluster = naming.cluster(env, region)
    if not _CLUSTER_NAME.fullmatch(cluster):
        problems.append(f"AKS cluster name {cluster!r} must be 2-63 letters, digits, - or _")
    account = naming.storage_account(env, region, "backups", subscription_id="")  # its shape ignores the seed
    if not _STORAGE_ACCOUNT.fullmatch(account):
        problems.append(f"storage account name {account!r} must be 3-24 lowercase letters and digits")
    return problems


@contextmanager
def staged(root: Path, new: NewStack) -> Iterator[Path]:
    """A throwaway copy of environments/ and stacks/ with the edits applied, for validation and planning."""
    with tempfile.TemporaryDirectory(prefix="infra-stack-new-") as tmp:
        copy = Path(tmp)
        copy_inputs(root, copy)
        for edit in new.edits:
            (copy / edit.path).write_bytes(edit.after)
        yield copy


def validate(root: Path, new: NewStack) -> Stack:
    """Load both stacks as the engine would; returns the new stack. Raises ConfigError."""
    load_stack(new.primary, root)
    return load_stack(new.stack, root)


def write(root: Path, edits: tuple[FileEdit, ...]) -> None:
    """Swap every edit in (write a sibling temp file, then rename); on failure, put every file back."""
    done: list[FileEdit] = []
    try:
        for edit in edits:
            _replace(root / edit.path, edit.after)
            done.append(edit)
    except BaseException:
        for edit in reversed(done):
            target = root / edit.path
            if edit.before is None:
                target.unlink(missing_ok=True)
            else:
                _replace(target, edit.before)
        raise


def append_region(text: str, entry: str) -> str:
    """`text` with `entry` (one YAML list item, unindented) added as the last item of the top-level `regions:`.

    Everything else stays byte for byte, comments included. A column-0 comment or blank line
    after the last item belongs to what follows, so the entry goes before it.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^regions:\s*(#.*)?$", line)), None)
    if start is None:
        raise ValueError("no block-style `regions:` list (a `regions: [...]` flow list cannot be extended)")
    last = start
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            break  # the next top-level key
        last = i
    items = [line for line in lines[start + 1 : last + 1] if line.lstrip().startswith("- ")]
    if not items:
        raise ValueError("`regions:` has no list items to extend")
    indent = " " * (len(items[0]) - len(items[0].lstrip()))
    body = "".join(indent + line if line.strip() else line for line in entry.splitlines(keepends=True))
    head = "".join(lines[: last + 1])
    if not head.endswith("\n"):
        head += "\n"
    return head + body + "".join(lines[last + 1 :])


def pin_regions(text: str, regions: list[str]) -> str:
    """`text` (a stack file) with `micro-infra:regions: [...]` added right after its environment key."""
    match = re.search(rf"^([ \t]+){PROJECT}:environment:[^\n]*\n?", text, re.M)
    if match is None:
        raise ValueError(f"no block-style `{PROJECT}:environment:` key under config")
    line = f"{match.group(1)}{PROJECT}:regions: [{', '.join(regions)}]  # region stacks build the others\n"
    head = text[: match.end()]
    if not head.endswith("\n"):
        head += "\n"
    return head + line + text[match.end() :]


def _stack_edit(stack: str, env: str, region: str) -> FileEdit:
    text = render("stack.yaml.j2", stack=stack, environment=env, region=region, zones_stack=env)
    return FileEdit(f"stacks/Pulumi.{stack}.yaml", None, text.encode(), f"new region stack {stack}")


def _environment_edit(root: Path, env: Environment, primary_region: str, region: str, stack: str) -> FileEdit:
    rel = f"environments/{env.name}.yaml"
    before = read_file(root / rel, rel)
    source = next(r for r in env.regions if r.name == primary_region)
    assert source.cluster is not None  # an Azure environment always sizes its clusters
    cluster = yaml.safe_dump(source.cluster.model_dump(mode="json"), sort_keys=False, default_flow_style=False)
    entry = render(
        "region.yaml.j2",
        region=region,
        stack=stack,
        primary=primary_region,
        zones=list(source.zones),
        cluster=cluster.rstrip("\n"),
    )
    text = before.decode()
    try:
        after = append_region(text, entry)
    except ValueError as exc:
        raise ConfigError([Problem(rel, "regions", f"{exc}; add {region} by hand")]) from None
    expected = read_yaml(root / rel, rel)
    expected["regions"] = [*expected["regions"], yaml.safe_load(entry)[0]]
    _check_edit(rel, after, expected)
    return FileEdit(rel, before, after.encode(), f"region {region} added, sized like {primary_region}")


def _pin_edit(root: Path, primary: Stack, regions: list[str]) -> FileEdit:
    rel = f"stacks/Pulumi.{primary.name}.yaml"
    before = read_file(primary.file, rel)
    try:
        after = pin_regions(before.decode(), regions)
    except ValueError as exc:
        raise ConfigError([Problem(rel, "config", f"{exc}; pin its regions by hand")]) from None
    expected = read_yaml(primary.file, rel)
    expected["config"] = {**expected["config"], f"{PROJECT}:regions": regions}
    _check_edit(rel, after, expected)
    return FileEdit(rel, before, after.encode(), f"pinned to regions {', '.join(regions)}")


def _check_edit(rel: str, after: str, expected: dict[str, Any]) -> None:
    """A text edit must mean exactly the intended data change, or it is not made."""
    try:
        meant = parse_yaml(after.encode(), rel)  # the loader's reading, not YAML 1.1's
    except ConfigError:
        meant = None
    if meant != expected:
        raise ConfigError([Problem(rel, "", "the text edit did not produce the intended YAML; edit it by hand")])


def _replace(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.infra-tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
