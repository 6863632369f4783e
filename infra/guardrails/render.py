"""`infra render`: every Kubernetes object the program declares directly, as one YAML file each.

Objects come from the offline plan's registrations: the type token gives apiVersion and kind, the
inputs (already the camelCase wire form) give the rest. Secrets stay masked ("[secret]"); values only
a deployment knows have named stand-ins from the traceable plan (client-id-of-<identity>). Helm charts
and releases are not rendered (their objects exist only when Helm runs); index.yaml lists them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from infra.plan.engine import Graph, Registration


INDEX = "index.yaml"
RENDERED = re.compile(r"^\d{2,}-[a-z0-9]+-[a-z0-9._-]+\.yaml$")
"""Names of files a render writes; --force deletes only these (and the index) before writing."""
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
NOT_OBJECTS = ("kubernetes:yaml:", "kubernetes:kustomize:", "kubernetes:helm.sh/")
"""Kubernetes components whose children are the objects (none are rendered offline)."""
SECRET = "[secret]"
CLUSTER_SCOPED = "cluster"
"""The namespace part of a cluster-scoped object's file name."""
ROOT = Path(__file__).resolve().parents[2]
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
CHECKOV_SKIPS = ROOT / "checkov-skips.yaml"
CHECKOV_TIMEOUT = 600


@dataclass
class Rendered:
    """What a render wrote."""

    stack: str
    out: Path
    objects: list[dict[str, Any]] = field(default_factory=list)
    """file, apiVersion, kind, namespace, name and urn of every object written."""
    helm: list[dict[str, Any]] = field(default_factory=list)
    """Charts and releases that were not rendered (their objects exist only at deploy time)."""

    def index(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "note": "Secrets are masked as [secret]; values known only after deployment are stand-ins "
            "named <what>-of-<resource>.",
            "objects": self.objects,
            "helm": self.helm,
        }


def is_object(registration: Registration) -> bool:
    """A Kubernetes object declared directly (not a provider, chart, release or YAML component)."""
    return registration.type.startswith("kubernetes:") and not registration.type.startswith(NOT_OBJECTS)


def manifest(registration: Registration) -> dict[str, Any]:
    """The object as it would be applied: apiVersion and kind from the type token, then the inputs.

    `kubernetes:<group>/<version>:<Kind>`; the core group is `core/v1` in a token but `v1` in a manifest.
    """
    _, group_version, kind = registration.type.split(":", 2)
    inputs = masked(registration.inputs, registration.raw_inputs())
    body = {k: v for k, v in whole_numbers(inputs).items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": group_version.removeprefix("core/"), "kind": kind, **body}


def masked(shown: Any, raw: Any) -> Any:
    """The plan's masked inputs, with a masked mapping or list keeping its shape: keys stay, every value is SECRET.

    A Secret's `stringData: {passphrase: <secret>}` reaches the plan as `stringData: "[secret]"`, which no schema
    accepts; rendered, it reads `stringData: {passphrase: "[secret]"}`. No revealed value is ever kept.
    """
    if shown == SECRET and isinstance(raw, dict | list):
        return _mask_leaves(raw)
    if isinstance(shown, dict) and isinstance(raw, dict):
        return {k: masked(v, raw.get(k)) for k, v in shown.items()}
    if isinstance(shown, list) and isinstance(raw, list) and len(shown) == len(raw):
        return [masked(v, r) for v, r in zip(shown, raw, strict=True)]
    return shown


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    return SECRET


def whole_numbers(value: Any) -> Any:
    """Integers as the API server receives them: the engine's wire form (protobuf Struct) makes every number a float."""
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def file_name(index: int, width: int, obj: dict[str, Any]) -> str:
    """<NN>-<kind>-<namespace>-<name>.yaml, lowercase, with anything outside [a-z0-9.-] replaced."""
    metadata = obj.get("metadata") or {}
    parts = (obj["kind"], metadata.get("namespace") or CLUSTER_SCOPED, metadata.get("name") or "unnamed")
    safe = [re.sub(r"[^a-z0-9.-]+", "_", str(part).lower()).strip("._") or "_" for part in parts]
    return f"{index:0{width}d}-{'-'.join(safe)}.yaml"


def helm_entry(registration: Registration) -> dict[str, Any]:
    inputs = registration.inputs
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    return {
        "type": registration.type,
        "urn": registration.urn,
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "repository": repository,
        "release": inputs.get("name"),
        "namespace": inputs.get("namespace"),
    }


def existing_render(out: Path) -> list[Path]:
    """Files in `out` that an earlier render wrote."""
    return [p for p in out.iterdir() if p.is_file() and (p.name == INDEX or RENDERED.match(p.name))]


def render(graph: Graph, out: Path) -> Rendered:
    """Write every directly declared object of `graph` to `out` (created if missing), plus index.yaml.

    The caller decides whether `out` may already hold files (see `infra render --force`).
    """
    out.mkdir(parents=True, exist_ok=True)
    for stale in existing_render(out):
        stale.unlink()
    result = Rendered(graph.stack, out)
    objects = [r for r in graph.registrations if is_object(r)]
    width = max(2, len(str(len(objects))))
    for index, registration in enumerate(objects, start=1):
        obj = manifest(registration)
        name = file_name(index, width, obj)
        (out / name).write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))
        metadata = obj.get("metadata") or {}
        result.objects.append(
            {
                "file": name,
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "namespace": metadata.get("namespace"),
                "name": metadata.get("name"),
                "urn": registration.urn,
            }
        )
    result.helm = [helm_entry(r) for r in graph.registrations if r.type in HELM_TYPES]
    (out / INDEX).write_text(yaml.safe_dump(result.index(), sort_keys=False, allow_unicode=True))
    return result


# --- checkov over a render ------------------------------------------------------------------------


@dataclass
class CheckovResult:
    """checkov's verdict on a render, with checkov-skips.yaml applied."""

    passed: list[dict[str, Any]]
    """Checks that passed: id, resource and file."""
    skipped: list[dict[str, Any]]
    """Failures that checkov-skips.yaml waives: id, resource, file and the reason."""
    failed: list[dict[str, Any]]
    """Failures nothing waives: id, name, resource and file."""

    def summary(self) -> dict[str, Any]:
        return {"passed": len(self.passed), "skipped": len(self.skipped), "failed": len(self.failed)}


class CheckovUnavailable(Exception):
    """checkov's venv is missing (scripts/ensure-tool-venvs checkov) or checkov did not produce a report."""


def checkov_binary() -> Path:
    """checkov in the venv scripts/ensure-tool-venvs builds (outside the repository)."""
    cache = Path(os.environ.get("MICRO_INFRA_CACHE") or Path.home() / ".cache" / "micro-infra")
    return cache / "venvs" / "checkov" / "bin" / "checkov"


def checkov_skips(path: Path = CHECKOV_SKIPS) -> list[dict[str, Any]]:
    """The skip list: id, reason and (optionally) the resources it is limited to."""
    entries = (yaml.safe_load(path.read_text()) or {}).get("skips") or []
    for entry in entries:
        if not entry.get("id") or not str(entry.get("reason") or "").strip():
            raise ValueError(f"{path.name}: every skip needs an id and a reason: {entry!r}")
    return list(entries)


def waiver(finding: dict[str, Any], skips: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The skip entry that covers a failed check, if any."""
    for entry in skips:
        if entry["id"] != finding["check_id"]:
            continue
        patterns = entry.get("resources")
        if not patterns or any(fnmatchcase(finding["resource"], p) for p in patterns):
            return entry
    return None


def run_checkov(directory: Path, binary: Path | None = None) -> CheckovResult:
    """Run every kubernetes check of checkov over `directory`, then apply checkov-skips.yaml to the failures."""
    binary = binary or checkov_binary()
    if not binary.exists():
        raise CheckovUnavailable(f"{binary} is missing: run scripts/ensure-tool-venvs checkov")
    command = [str(binary), "-d", str(directory), "--config-file", str(CHECKOV_CONFIG), "--output", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT, check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise CheckovUnavailable(
            f"checkov printed no JSON report (exit {done.returncode}): {done.stderr[-500:]}"
        ) from None
    if isinstance(report, list):  # one report per framework
        report = next(r for r in report if r.get("check_type") == "kubernetes")
    results = report.get("results") or {}
    skips = checkov_skips()
    passed, skipped, failed = [], [], []
    for check in results.get("passed_checks") or []:
        passed.append(_finding(check))
    for check in results.get("failed_checks") or []:
        finding = _finding(check)
        entry = waiver(finding, skips)
        if entry is None:
            failed.append(finding)
        else:
            skipped.append({**finding, "reason": " ".join(str(entry["reason"]).split())})
    return CheckovResult(passed, skipped, failed)


def _finding(check: dict[str, Any]) -> dict[str, Any]:
    """A check result as this module reports it; `file` is relative to the scanned directory."""
    return {
        "check_id": check["check_id"],
        "name": check.get("check_name", ""),
        "resource": check.get("resource", ""),
        "file": str(check.get("file_path", "")).lstrip("/"),
    }
