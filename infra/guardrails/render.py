"""`infra render`: every Kubernetes object the program declares directly, as one YAML file each.

Objects come from the offline plan's registrations: the type token gives apiVersion and kind, the
inputs (already the camelCase wire form) give the rest. Secrets stay masked ("[secret]"); values only
a deployment knows have named stand-ins from the traceable plan (client-id-of-<identity>). Helm charts
and releases are not rendered (their objects exist only when Helm runs); index.yaml lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
CLUSTER_SCOPED = "cluster"
"""The namespace part of a cluster-scoped object's file name."""


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
    body = {k: v for k, v in whole_numbers(registration.inputs).items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": group_version.removeprefix("core/"), "kind": kind, **body}


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
