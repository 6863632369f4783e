"""Strict Kubernetes JSON-schema validation of registered objects, shared by the test files.

`validate(registration_or_manifest)` turns a registration's inputs (already the camelCase wire form)
into a manifest and checks it with kubernetes-validate in strict mode, so a misspelt or misplaced
field (which the API server would silently drop) fails the test. Helm charts and CustomResources
have no built-in schema: pass only built-in kinds.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from infra.plan.engine import Registration

VERSION = "1.34"
"""The Kubernetes minor version the clusters run (AKS and kind)."""


def manifest(registration: Registration) -> dict[str, Any]:
    """The object as it would be applied: apiVersion and kind from the type token, then the inputs.

    A type token reads `kubernetes:<group>/<version>:<Kind>`; the core group is written `core/v1`
    in the token but `v1` in a manifest. Secrets and unknowns stay masked ("[secret]", "[unknown]").
    """
    _, group_version, kind = registration.type.split(":", 2)
    api_version = group_version.removeprefix("core/")
    return {**_whole_numbers(registration.inputs), "apiVersion": api_version, "kind": kind}


def _whole_numbers(value: Any) -> Any:
    """Integers as the API server receives them: the engine's wire form (protobuf Struct) makes every number a float."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def validate(registration_or_manifest: Registration | dict[str, Any], version: str = VERSION) -> dict[str, Any]:
    """Validate strictly against the schema of `version`; return the manifest that was checked.

    Raises kubernetes_validate.ValidationError with the failing path when the object is invalid.
    """
    obj = (
        manifest(registration_or_manifest)
        if isinstance(registration_or_manifest, Registration)
        else registration_or_manifest
    )
    kubernetes_validate.validate(obj, version, strict=True)
    return obj
