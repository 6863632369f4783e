"""The micro-infra CrossGuard pack: policies.py's rules, wrapped for `pulumi preview --policy-pack policy`.

Runs in its own venv (scripts/ensure-tool-venvs policy; PulumiPolicy.yaml names it). The rules see the same
Resource view as `infra check`: props with preview-unknowns as "[unknown]", so a rule skips what it cannot
know yet and judges it again at `up`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import _is_unknown

# policies.py sits next to this file; the pack's directory is not always on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import policies

LEVELS = {policies.MANDATORY: EnforcementLevel.MANDATORY, policies.ADVISORY: EnforcementLevel.ADVISORY}


def plain(value: Any) -> Any:
    """Props without CrossGuard's unknown-checking proxies, with every unknown as policies.UNKNOWN.

    The proxies raise on reading an unknown, which would stop a rule at its first unknown value; the rules
    skip unknowns themselves instead. A proxy hands out what it wraps for the key "__target".
    """
    if type(value).__name__ in ("_DictProxy", "_ListProxy"):
        return plain(value["__target"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if _is_unknown(value):
        return policies.UNKNOWN
    return value


def resource_view(args: ResourceValidationArgs) -> policies.Resource:
    return policies.Resource(
        type=args.resource_type,
        name=args.name,
        urn=args.urn,
        props=plain(args.props),
        protect=bool(args.opts.protect),
        parent=args.opts.parent,
    )


def stack_views(args: StackValidationArgs) -> list[policies.Resource]:
    return [
        policies.Resource(
            type=r.resource_type,
            name=r.name,
            urn=r.urn,
            props=plain(r.props),
            protect=bool(r.opts.protect),
            parent=r.parent.urn if r.parent is not None else None,
            dependencies=tuple(d.urn for d in r.dependencies),
        )
        for r in args.resources
    ]


def wrap(policy: policies.Policy) -> ResourceValidationPolicy | StackValidationPolicy:
    """A CrossGuard policy that runs `policy.check` and reports each finding (with its resource's URN)."""
    level = LEVELS[policy.enforcement]
    if policy.scope == "resource":

        def validate_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
            for message in policy.check(resource_view(args)):  # type: ignore[arg-type]
                report(message, None)

        return ResourceValidationPolicy(policy.name, policy.description, validate_resource, level)

    def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
        for finding in policy.check(stack_views(args)):  # type: ignore[arg-type]
            report(finding.message, finding.urn or None)

    return StackValidationPolicy(policy.name, policy.description, validate_stack, level)


PolicyPack(
    "micro-infra",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[wrap(p) for p in policies.POLICIES],
)
