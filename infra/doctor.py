"""`infra doctor`: what an Azure subscription must offer before `pulumi up` of a stack, checked against it.

Three things fail a first `up` late and expensively: the deployer's rights (it creates role assignments,
custom roles, locks and a policy assignment, which Contributor may not), the regional vCPU quota, and
resource providers that were never registered. Each is read from Azure Resource Manager's REST API with the
deployer's own token; each failure is one line with its fix.

ARM endpoints, as documented (the tests replay responses recorded in these shapes):
- role assignments of the caller: Role Assignments - List For Subscription, `$filter=assignedTo('<oid>')`
  (https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-subscription);
- what each role allows: Role Definitions - Get By Id
  (https://learn.microsoft.com/rest/api/authorization/role-definitions/get-by-id);
- vCPU quota: Usage - List (https://learn.microsoft.com/rest/api/compute/usage/list);
- providers: Providers - List (https://learn.microsoft.com/rest/api/resources/providers/list).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import math
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from components.azure import naming
from infra.config.loader import Stack
from infra.config.model import VM_SIZES, Cluster

ARM = "https://management.azure.com"
API = {
    "roleAssignments": "2022-04-01",
    "roleDefinitions": "2022-04-01",
    "usages": "2024-07-01",
    "providers": "2021-04-01",
}
REQUIRED_ACTIONS = (
    # What the program creates (components/azure), as ARM authorizes it.
    "Microsoft.Resources/subscriptions/resourceGroups/write",
    "Microsoft.ContainerService/managedClusters/write",
    "Microsoft.ManagedIdentity/userAssignedIdentities/write",
    "Microsoft.Network/publicIPAddresses/write",
    "Microsoft.Network/dnsZones/write",
    "Microsoft.Storage/storageAccounts/write",
    # What Contributor may not do. Owner or User Access Administrator (`Microsoft.Authorization/*`) may; Role
    # Based Access Control Administrator covers role assignments only, not custom roles, locks or policy.
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
    "Microsoft.Authorization/locks/write",
    "Microsoft.Authorization/policyAssignments/write",
)
SURGE = 0.33
"""The pools' upgradeSettings.maxSurge (components/azure/aks_cluster.py): an upgrade adds this share of a pool."""
TOTAL_VCPUS = "cores"
"""The usage name of a region's total vCPU quota ("Total Regional vCPUs")."""


class ArmError(Exception):
    """Azure could not be asked (no token, network, an HTTP error): one line, exit 2."""


Get = Callable[[str], dict[str, Any]]
"""GET an ARM path (with its query) and return the JSON body."""


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.detail}" + (
            "" if self.ok else f"; fix: {self.fix}"
        )


@dataclass(frozen=True)
class Need:
    """What a stack asks of the subscription."""

    vcpus: dict[tuple[str, str], int]
    """(region, quota family or `cores`) → vCPUs at the autoscaler's maximum plus an upgrade's surge."""
    providers: tuple[str, ...]
    groups: tuple[str, ...] = ()
    """The resource groups the stack deploys into (a deployer may hold its rights on exactly these)."""


def need(stack: Stack) -> Need:
    vcpus: dict[tuple[str, str], int] = {}
    providers = {
        "Microsoft.Authorization",
        "Microsoft.Compute",
        "Microsoft.ContainerService",
        "Microsoft.ManagedIdentity",
        "Microsoft.Network",
        "Microsoft.PolicyInsights",  # the Azure Policy add-on
        "Microsoft.Storage",
    }
    for region in stack.regions:
        if region.cluster is None:
            continue
        for family, count in _cluster_vcpus(region.cluster, len(region.zones)).items():
            for key in ((region.name, family), (region.name, TOTAL_VCPUS)):
                vcpus[key] = vcpus.get(key, 0) + count
        monitoring = region.cluster.monitoring
        if monitoring.log_analytics:
            providers |= {"Microsoft.OperationalInsights", "Microsoft.Insights"}
        if monitoring.managed_prometheus:
            providers |= {"Microsoft.Monitor", "Microsoft.Insights"}
        if monitoring.defender:
            providers.add("Microsoft.Security")
    env = stack.environment
    groups = [naming.resource_group(env.name, env.regions[0].name, "dns")]
    for region in stack.regions:
        groups += [naming.resource_group(env.name, region.name), naming.resource_group(env.name, region.name, "edge")]
    return Need(vcpus, tuple(sorted(providers)), tuple(groups))


def _cluster_vcpus(cluster: Cluster, zones: int) -> dict[str, int]:
    """Every pool at its maximum, plus the surge of the one pool being upgraded, the largest (AKS upgrades one
    pool at a time; the user pool runs as one pool per zone, see aks_cluster.agent_pools)."""
    by_family: dict[str, int] = {}
    surges: list[tuple[int, str]] = []
    for pool, pools in ((cluster.system_pool, 1), (cluster.user_pool, zones)):
        spec = VM_SIZES[pool.vm_size]
        by_family[spec.quota_family] = by_family.get(spec.quota_family, 0) + pool.max_count * spec.vcpus
        surges.append((math.ceil(pool.max_count // pools * SURGE) * spec.vcpus, spec.quota_family))
    surge, family = max(surges)
    by_family[family] += surge
    return by_family


def run(stack: Stack, get: Get, subscription: str, principal: str) -> list[Check]:
    """Every check of `stack` against `subscription`, as `principal` (the deployer's object ID)."""
    wanted = need(stack)
    return [
        *rights(get, subscription, principal, wanted.groups),
        *quota(get, subscription, wanted),
        *providers(get, subscription, wanted),
    ]


def rights(get: Get, subscription: str, principal: str, groups: Iterable[str] = ()) -> list[Check]:
    """Each required action, allowed on the subscription or on every one of the stack's resource `groups` (the
    shape `infra bootstrap` grants). Role-assignment conditions are not evaluated."""
    scope = f"/subscriptions/{subscription}"
    group_scopes = [f"{scope}/resourceGroups/{g}".lower() for g in groups]
    assignments = get(
        f"{scope}/providers/Microsoft.Authorization/roleAssignments"
        f"?$filter=assignedTo('{principal}')&api-version={API['roleAssignments']}"
    ).get("value", [])
    at: dict[str, list[dict[str, Any]]] = {}
    definitions: dict[str, list[dict[str, Any]]] = {}
    for assignment in assignments:
        props = assignment.get("properties", {})
        where = "subscription" if _covers(props.get("scope", ""), scope) else props.get("scope", "").rstrip("/").lower()
        role = props["roleDefinitionId"]
        if role not in definitions:
            body = get(f"{role}?api-version={API['roleDefinitions']}")
            definitions[role] = body.get("properties", {}).get("permissions", [])
        at.setdefault(where, []).extend(definitions[role])
    checks = []
    for action in REQUIRED_ACTIONS:
        allowed = any(_allows(p, action) for p in at.get("subscription", [])) or (
            bool(group_scopes) and all(any(_allows(p, action) for p in at.get(group, [])) for group in group_scopes)
        )
        authorization = action.startswith("Microsoft.Authorization/")
        fix = (
            f"assign User Access Administrator on {scope} to {principal} (Role Based Access Control Administrator"
            " cannot create custom roles, locks or policy assignments)"
            if authorization
            else f"assign Contributor on {scope} to {principal}"
        )
        checks.append(Check(f"rights {action}", allowed, "allowed" if allowed else f"{principal} may not", fix))
    return checks


def quota(get: Get, subscription: str, wanted: Need) -> list[Check]:
    checks = []
    for region in sorted({r for r, _ in wanted.vcpus}):
        usages = get(
            f"/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{region}/usages"
            f"?api-version={API['usages']}"
        ).get("value", [])
        by_name = {u.get("name", {}).get("value", "").lower(): u for u in usages}
        for (where, family), count in sorted(wanted.vcpus.items()):
            if where != region:
                continue
            usage = by_name.get(family.lower())
            fix = _quota_fix(region, family, count)
            if usage is None:
                checks.append(Check(f"quota {region} {family}", False, "no such quota in the region", fix))
                continue
            free = int(usage.get("limit", 0)) - int(usage.get("currentValue", 0))
            ok = free >= count
            detail = f"needs {count} vCPUs, {free} free ({usage.get('currentValue')} used of {usage.get('limit')})"
            checks.append(Check(f"quota {region} {family}", ok, detail, fix))
    return checks


def _quota_fix(region: str, family: str, count: int) -> str:
    return f"request {family} in {region} raised by at least {count} vCPUs (portal: Quotas > Compute)"


def providers(get: Get, subscription: str, wanted: Need) -> list[Check]:
    listed = get(f"/subscriptions/{subscription}/providers?api-version={API['providers']}").get("value", [])
    state = {p.get("namespace", "").lower(): p.get("registrationState", "NotRegistered") for p in listed}
    checks = []
    for namespace in wanted.providers:
        current = state.get(namespace.lower(), "NotRegistered")
        checks.append(
            Check(
                f"provider {namespace}",
                current == "Registered",
                current,
                f"az provider register --namespace {namespace} --subscription {subscription}",
            )
        )
    return checks


def _covers(assigned: str, scope: str) -> bool:
    """An assignment at the subscription, or above it (a management group, the root), covers the subscription."""
    assigned = assigned.rstrip("/").lower()
    return assigned in ("", scope.lower()) or assigned.startswith("/providers/microsoft.management/")


def _allows(permission: dict[str, Any], action: str) -> bool:
    """ARM's wildcard semantics: an `actions` pattern matches and no `notActions` pattern does (case-insensitive)."""

    def matches(patterns: Iterable[str]) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)

    return matches(permission.get("actions", [])) and not matches(permission.get("notActions", []))


# --- talking to Azure -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    get: Get
    subscription: str
    principal: str


def connect() -> Session:
    """The deployer's session: a token from $AZURE_ACCESS_TOKEN or `az account get-access-token`, and the
    subscription from $ARM_SUBSCRIPTION_ID or the token's account. Never stored, never printed."""
    token = os.environ.get("AZURE_ACCESS_TOKEN") or _az(["account", "get-access-token", "--resource", f"{ARM}/"])
    token = token.get("accessToken", "") if isinstance(token, dict) else token
    subscription = os.environ.get("ARM_SUBSCRIPTION_ID") or _az(["account", "show"]).get("id", "")
    if not token or not subscription:
        raise ArmError("no Azure token or subscription: log in with `az login` or set ARM_SUBSCRIPTION_ID")
    principal = _claims(token).get("oid", "")
    if not principal:
        raise ArmError("the Azure token names no principal (oid claim)")

    def get(path: str) -> dict[str, Any]:
        request = urllib.request.Request(ARM + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as exc:
            raise ArmError(f"GET {path.split('?')[0]}: HTTP {exc.code} {_arm_message(exc)}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise ArmError(f"cannot reach {ARM}: {exc}") from None

    return Session(get, subscription, principal)


def _az(args: list[str]) -> Any:
    try:
        done = subprocess.run(["az", *args, "-o", "json"], capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise ArmError("the Azure CLI (az) is not installed; set AZURE_ACCESS_TOKEN and ARM_SUBSCRIPTION_ID") from None
    if done.returncode != 0:
        raise ArmError(f"az {' '.join(args[:2])} failed: {done.stderr.strip().splitlines()[-1:] or ['no output']}")
    return json.loads(done.stdout)


def _claims(token: str) -> dict[str, Any]:
    """The JWT's payload, unverified: only to learn whose token it is (Azure verifies it on every call)."""
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        raise ArmError("AZURE_ACCESS_TOKEN is not a JWT") from None


def _arm_message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(exc).get("error", {}).get("message", ""))
    except ValueError:
        return ""


def report(stack: str, session: Session, checks: list[Check]) -> dict[str, Any]:
    return {
        "stack": stack,
        "subscription": session.subscription,
        "principal": session.principal,
        "checks": [asdict(c) for c in checks],
        "passed": all(c.ok for c in checks),
    }
