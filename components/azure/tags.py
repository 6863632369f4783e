"""The one tag set of every taggable Azure resource, so cost reports and tag policies group an environment."""

from __future__ import annotations

PROJECT = "micro-infra"


def tags(environment: str, region: str, role: str) -> dict[str, str]:
    """environment, region (of the resource's group for global resources), what it is for, and who manages it."""
    return {
        "project": PROJECT,
        "environment": environment,
        "region": region,
        "role": role,
        "managed-by": "pulumi",
    }
