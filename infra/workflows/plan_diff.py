"""Compare two offline plans by URN: what a change would create, update, replace or delete.

This is a conservative offline estimate. The real engine's `pulumi preview` is authoritative:
it diffs against the deployed state and asks each provider, which knows every property's
replace semantics. Here the inputs are compared as the program registers them (the documents
of `infra.plan.report.preview_document`), a changed property listed in REPLACE_ON_CHANGE counts
as a replace, and values only known after deployment ("[unknown]") or secret ("[secret]")
compare equal to themselves: a secret that changed inside stays invisible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from infra.workflows import FlagError

Op = Literal["create", "update", "replace", "delete"]
OPS: tuple[Op, ...] = ("create", "update", "replace", "delete")

_K8S_ANY = ("metadata.name", "metadata.namespace")
"""Renaming or moving any Kubernetes object is a delete and a create."""
_AZURE_ANY = ("resourceGroupName", "location")
"""Every Azure resource lives at a URL with its group in it, and cannot change region."""

REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    # Kubernetes: fields the API server refuses to change on an existing object.
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": ("spec.selector", "spec.volumeClaimTemplates", "spec.serviceName"),
    "kubernetes:batch/v1:Job": ("spec.template", "spec.selector"),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.clusterIPs"),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.storageClassName", "spec.accessModes", "spec.volumeName"),
    "kubernetes:helm.sh/v3:Release": ("name", "namespace"),
    # Azure: the URL path parameters (the resource's own name and its parents'), and the
    # properties the resource provider refuses to change in place.
    "azure-native:resources:ResourceGroup": ("resourceGroupName",),
    "azure-native:dns:Zone": ("zoneName", "zoneType"),
    "azure-native:dns:RecordSet": ("zoneName", "relativeRecordSetName", "recordType"),
    "azure-native:network:PublicIPAddress": ("publicIpAddressName", "zones", "sku", "publicIPAddressVersion"),
    "azure-native:storage:StorageAccount": ("accountName",),
    "azure-native:storage:BlobContainer": ("accountName", "containerName"),
    "azure-native:storage:ManagementPolicy": ("accountName", "managementPolicyName"),
    "azure-native:managedidentity:UserAssignedIdentity": ("resourceName",),
    "azure-native:managedidentity:FederatedIdentityCredential": (
        "resourceName",
        "federatedIdentityCredentialResourceName",
    ),
    "azure-native:containerservice:ManagedCluster": ("resourceName", "dnsPrefix", "nodeResourceGroup"),
    "azure-native:containerservice:MaintenanceConfiguration": ("resourceName", "configName"),
    "azure-native:authorization:RoleAssignment": ("roleAssignmentName", "scope", "principalId", "roleDefinitionId"),
}
"""Input paths whose change replaces the resource, per type (a path covers everything under it)."""

_SKIPPED_TYPES = frozenset({"pulumi:pulumi:Stack"})
"""The stack itself has no inputs; it is never created, updated or deleted by a change."""


@dataclass(frozen=True)
class ResourceChange:
    """One resource that a change creates, updates, replaces or deletes."""

    op: Op
    urn: str
    type: str
    name: str
    protected: bool
    """Protected before or after the change: deleting or replacing it must be done by hand."""
    paths: tuple[str, ...] = ()
    """Changed input paths (`spec.replicas`, `spec.template.spec.containers[0].image`); none for creates/deletes."""
    replace_paths: tuple[str, ...] = ()
    """The changed paths that force the replacement (a subset of `paths`)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "protected": self.protected,
            "paths": list(self.paths),
            "replacePaths": list(self.replace_paths),
        }


@dataclass(frozen=True)
class StackDiff:
    """Everything that differs between two plans of one stack."""

    stack: str
    changes: tuple[ResourceChange, ...]
    unchanged: int = 0
    """Resources present in both plans with identical inputs."""
    notes: tuple[str, ...] = field(default=())
    """Why the diff is partial (a stack new or removed on one side)."""

    def of(self, op: Op) -> list[ResourceChange]:
        return [c for c in self.changes if c.op == op]

    @property
    def counts(self) -> dict[str, int]:
        return {op: len(self.of(op)) for op in OPS}

    @property
    def protected(self) -> list[ResourceChange]:
        """Updates, replaces and deletes of protected resources: each needs a human's eyes."""
        return [c for c in self.changes if c.protected and c.op != "create"]

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "changeSummary": {**self.counts, "same": self.unchanged},
            "protected": [c.urn for c in self.protected],
            "notes": list(self.notes),
            "changes": [c.to_json() for c in self.changes],
        }


def diff_documents(base: dict[str, Any] | None, head: dict[str, Any] | None, stack: str | None = None) -> StackDiff:
    """Diff two preview documents of one stack; None is a stack that does not exist on that side."""
    name = stack or str((head or base or {}).get("stack", "?"))
    old = _states(base)
    new = _states(head)
    notes = []
    if base is None:
        notes.append(f"{name} is new: every resource is a create")
    if head is None:
        notes.append(f"{name} is removed: every resource is a delete")
    changes: list[ResourceChange] = []
    unchanged = 0
    for urn, state in new.items():
        before = old.get(urn)
        if before is None:
            changes.append(_change("create", urn, state, protected=bool(state.get("protect"))))
            continue
        paths = changed_paths(before.get("inputs", {}), state.get("inputs", {}))
        if not paths:
            unchanged += 1
            continue
        triggers = replace_triggers(str(state.get("type", "")), paths)
        protected = bool(before.get("protect") or state.get("protect"))
        op: Op = "replace" if triggers else "update"
        changes.append(_change(op, urn, state, protected, tuple(paths), triggers))
    for urn, state in old.items():
        if urn not in new:
            changes.append(_change("delete", urn, state, protected=bool(state.get("protect"))))
    return StackDiff(name, tuple(changes), unchanged, tuple(notes))


def plan_document(stack: str, root: Path) -> dict[str, Any]:
    """The offline plan of `stack` from the files under `root`, as a preview document (in this process)."""
    from infra.config.loader import load_stack
    from infra.plan.engine import run
    from infra.plan.report import preview_document
    from infra.program import program_for

    loaded = load_stack(stack, root)
    return preview_document(run(program_for(loaded), stack, loaded.config))


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Leaf paths where `old` and `new` differ; a list that changes length is one changed path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                out += changed_paths(old[key], new[key], sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True)) for p in changed_paths(a, b, f"{path}[{i}]")]
    return [] if old == new else [path or "(inputs)"]


def replace_triggers(type_: str, paths: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The changed paths that force a replacement of a resource of `type_`."""
    fields = REPLACE_ON_CHANGE.get(type_, ())
    if type_.startswith("kubernetes:") and not type_.startswith("kubernetes:helm.sh/"):
        fields = (*fields, *_K8S_ANY)
    elif type_.startswith("azure-native:"):
        fields = (*fields, *_AZURE_ANY)
    return tuple(p for p in paths if any(_under(p, f) for f in fields))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _states(document: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """URN → planned state (type, inputs, protect) of every resource but the stack itself."""
    if document is None:
        return {}
    states = {}
    for step in document.get("steps", []):
        state = step.get("newState") or step.get("oldState") or {}
        if state.get("type") in _SKIPPED_TYPES:
            continue
        states[str(step.get("urn") or state.get("urn"))] = state
    return states


def _change(
    op: Op,
    urn: str,
    state: dict[str, Any],
    protected: bool,
    paths: tuple[str, ...] = (),
    replace_paths: tuple[str, ...] = (),
) -> ResourceChange:
    return ResourceChange(
        op=op,
        urn=urn,
        type=str(state.get("type", "")),
        name=urn.rsplit("::", 1)[-1],
        protected=protected,
        paths=paths,
        replace_paths=replace_paths,
    )


# --- plans of a git revision ------------------------------------------------------------------


@contextmanager
def worktree(root: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """(data root, commit) of a detached checkout of `ref`, in a temp dir removed whatever happens.

    `root` is where environments/ and stacks/ live; the checkout's root is at the same place
    relative to the repository, so MICRO_INFRA_ROOT may point inside a repository too.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        raise FlagError(f"--base: {root} is not inside a git checkout")
    commit = None if ref.startswith("-") else _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit is None:
        raise FlagError(f"--base: {ref!r} is not a commit of {top} (try origin/main, HEAD~1 or a SHA)")
    tmp = Path(tempfile.mkdtemp(prefix="infra-diff-"))
    checkout = tmp / "base"
    try:
        if _git(root, "worktree", "add", "--detach", "--quiet", str(checkout), commit) is None:
            raise FlagError(f"--base: git could not check out {ref} ({commit[:12]})")
        yield checkout / root.resolve().relative_to(Path(top).resolve()), commit
    finally:
        _git(root, "worktree", "remove", "--force", str(checkout))
        shutil.rmtree(tmp, ignore_errors=True)
        _git(root, "worktree", "prune")


def stacks_at(root: Path) -> dict[str, str | None]:
    """Stack → the environment its file names (None when unreadable), for the files under `root`."""
    from infra.config.errors import ConfigError
    from infra.config.loader import PROJECT, read_yaml, stack_file, stack_names

    stacks: dict[str, str | None] = {}
    for name in stack_names(root):
        path = stack_file(name, root)
        try:
            config = read_yaml(path).get("config")
        except ConfigError:
            config = None
        env = config.get(f"{PROJECT}:environment") if isinstance(config, dict) else None
        stacks[name] = env if isinstance(env, str) else None
    return stacks


def changed_files(root: Path, commit: str) -> list[str]:
    """Files under `root` that differ from `commit` in the working tree, untracked ones included."""
    tracked = _git(root, "diff", "--name-only", "--relative", commit) or ""
    untracked = _git(root, "ls-files", "--others", "--exclude-standard") or ""
    return sorted({line for line in (tracked + "\n" + untracked).splitlines() if line})


_NO_PLAN_EFFECT = ("tests/", ".github/", "benchmarks/", "policy/", "scripts/", "environments/schema.json")
"""Paths that cannot change what a stack plans (the policy pack checks plans; it does not make them)."""


def affected_stacks(changed: list[str], environments: Mapping[str, str | None]) -> list[str]:
    """The stacks (keys of `environments`, stack → environment) that `changed` files can affect.

    A stack file affects its stack, an environment file every stack naming it, and anything
    else but tests, docs and CI (code, templates, dependency pins) every stack.
    """
    hit: set[str] = set()
    for path in changed:
        if path.startswith("stacks/Pulumi.") and path.endswith(".yaml"):
            hit.add(path.removeprefix("stacks/Pulumi.").removesuffix(".yaml"))
        elif path.startswith("environments/") and path.endswith(".yaml"):
            env = path.removeprefix("environments/").removesuffix(".yaml")
            hit |= {stack for stack, named in environments.items() if named in (env, None)}
        elif not (path.startswith(_NO_PLAN_EFFECT) or path.endswith(".md")):
            return list(environments)
    return [stack for stack in environments if stack in hit]


class RevisionPlan:
    """`infra plan --json` of another revision, run with that revision's own code in a subprocess.

    Started at construction so it runs while this process plans the working tree.
    """

    def __init__(self, code: Path, data: Path, stacks: list[str], label: str) -> None:
        self.label = label
        self.stacks = stacks
        # Files, not pipes: the subprocess must never block on output while this process plans.
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._process: subprocess.Popen[bytes] | None = None
        if not stacks:
            return
        env = {**os.environ, "PYTHONPATH": str(code), "MICRO_INFRA_ROOT": str(data)}
        only = ["--stack", stacks[0]] if len(stacks) == 1 else []
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infra.cli.main", "plan", "--json", *only],
            cwd=code,
            env=env,
            stdout=self._out,
            stderr=self._err,
        )

    def documents(self) -> dict[str, dict[str, Any]]:
        """Stack → preview document; raises FlagError naming the revision when it cannot be planned."""
        if self._process is None:
            return {}
        code = self._process.wait()
        self._out.seek(0)
        self._err.seek(0)
        if code != 0:
            lines = self._err.read().decode(errors="replace").strip().splitlines() or [f"exit code {code}"]
            raise FlagError(f"--base: {self.label} cannot be planned: {lines[-1]}")
        document = json.load(self._out)
        found = document["stacks"] if "stacks" in document else {document["stack"]: document}
        return {name: found[name] for name in self.stacks if name in found}

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._out.close()
        self._err.close()


def _git(root: Path, *args: str) -> str | None:
    """stdout of a git command in `root`, or None when it fails."""
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None
