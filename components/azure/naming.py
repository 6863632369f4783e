"""Azure resource names, derived once from environment and region (Cloud Adoption Framework prefixes).

Every name carries the environment and the region, so two stacks never collide and a name in
the portal says where it belongs. Each function respects its resource type's rules; the
tests check them for every Azure region.
"""

from __future__ import annotations

import hashlib
import uuid

_ROLE_NAMESPACE = uuid.UUID("6f1c0a4e-5b7d-4d36-9c1e-6d2f0b8a3c11")


def stem(env: str, region: str) -> str:
    """`micro-<env>-<region>`: the stem of every regional name."""
    return f"micro-{env}-{region}"


def resource_group(env: str, region: str, role: str | None = None) -> str:
    """Resource groups: 1-90 of alphanumerics, `-_.()`."""
    return f"rg-{stem(env, region)}" + (f"-{role}" if role else "")


def cluster(env: str, region: str) -> str:
    """AKS clusters: 1-63, alphanumerics, `-_`, starting and ending alphanumeric."""
    return f"aks-{stem(env, region)}"


def node_resource_group(env: str, region: str) -> str:
    """The AKS node resource group: at most 80 characters (the baseline names it too)."""
    return f"rg-{stem(env, region)}-nodes"


def public_ip(env: str, region: str, role: str) -> str:
    """Public IPs: 1-80 characters."""
    return f"pip-{stem(env, region)}-{role}"


def identity(env: str, region: str, role: str) -> str:
    """User-assigned identities: 3-128, alphanumerics, `-_`, starting alphanumeric."""
    return f"id-{stem(env, region)}-{role}"


def storage_account(env: str, region: str, role: str, subscription_id: str = "") -> str:
    """Storage accounts: 3-24 lowercase alphanumerics, globally unique.

    The hash is seeded with the subscription, as the baseline's `uniqueString(subscription().id, ...)`: a name
    computed from this public repository alone could be registered first by anyone, and a fork deploying the
    same environments would collide. Six hex characters (24 bits) keep it unique; the region is cut to fit.
    Without a seed (the bootstrap's state account, whose name the backend URL needs before Azure is asked) the
    name follows from the public strings alone.
    """
    digest = hashlib.sha256(f"{subscription_id}/{env}/{region}/{role}".encode()).hexdigest()[:6]
    head = f"st{role[:3]}{env[:6]}"
    return (head + region)[: 24 - len(digest)] + digest


def role_assignment(*parts: str) -> str:
    """Role assignment names must be GUIDs; deriving them makes re-runs idempotent."""
    return str(uuid.uuid5(_ROLE_NAMESPACE, "/".join(parts)))


def custom_role(env: str, region: str, purpose: str) -> str:
    """Custom role names are unique per tenant, so each carries environment and region."""
    return f"micro-{env}-{region}-{purpose}"


def role_definition(role_name: str) -> str:
    """A custom role's GUID, derived from its unique name: bootstrap can allow it before it exists."""
    return role_assignment("role-definition", role_name)


def key_vault(env: str, region: str) -> str:
    """Key vaults: 3-24 alphanumerics and hyphens, globally unique; a short hash keeps long regions in."""
    digest = hashlib.sha256(f"{env}/{region}/kv".encode()).hexdigest()[:4]
    return f"kv-micro-{env[:8]}-{digest}"
