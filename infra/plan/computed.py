"""Traceable stand-ins for values that only a provider knows after deployment.

Each value names the resource it came from, so a test can prove wiring: a DNS record whose
address is `ip-of-edge-api` points at the `edge-api` public IP, and nothing else.
"""

from __future__ import annotations

from typing import Any

_SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"


def resource_id(typ: str, name: str, inputs: dict[str, Any]) -> str:
    if typ.startswith("azure-native:"):
        rg = inputs.get("resourceGroupName", "rg")
        kind = typ.split(":")[-1]
        return f"{_SUB}/resourceGroups/{rg}/providers/{kind}/{inputs.get(_name_key(inputs), name)}"
    return f"{name}-id"


def _name_key(inputs: dict[str, Any]) -> str:
    if set(inputs) & {"location", "resourceGroupName"} == {"location", "resourceGroupName"} and len(
        [k for k in inputs if k.endswith("Name")]
    ) == 1:
        return "resourceGroupName"  # a ResourceGroup names itself with resourceGroupName
    for key in inputs:
        if key.endswith("Name") and key != "resourceGroupName" and isinstance(inputs[key], str):
            return key
    return "name"


def as_outputs(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs echoed as outputs, where the two shapes differ (azure-native identities: list → map)."""
    identity = inputs.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        ids = identity["userAssignedIdentities"]
        return {**inputs, "identity": {**identity, "userAssignedIdentities": {str(i): {} for i in ids}}}
    return inputs


def outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Computed properties the program reads, per resource type."""
    out: dict[str, Any] = {"name": inputs.get(_name_key(inputs), name)} if typ.startswith("azure-native:") else {}
    if typ == "azure-native:network:PublicIPAddress":
        out["ipAddress"] = f"ip-of-{name}"
    elif typ == "azure-native:managedidentity:UserAssignedIdentity":
        out["clientId"] = f"client-id-of-{name}"
        out["principalId"] = f"principal-id-of-{name}"
        out["tenantId"] = "00000000-0000-0000-0000-000000000001"
    elif typ == "azure-native:containerservice:ManagedCluster":
        out["oidcIssuerProfile"] = {**inputs.get("oidcIssuerProfile", {}), "issuerURL": f"https://oidc.example/{name}/"}
        out["identity"] = {**inputs.get("identity", {}), "principalId": f"principal-id-of-{name}"}
        out["identityProfile"] = {
            "kubeletidentity": {"objectId": f"kubelet-of-{name}", "clientId": f"kubelet-client-of-{name}"}
        }
        out["fqdn"] = f"{name}.hcp.example"
    elif typ == "azure-native:dns:Zone":
        out["nameServers"] = [f"ns1-of-{name}", f"ns2-of-{name}"]
    elif typ == "azure-native:storage:StorageAccount":
        out["primaryEndpoints"] = {"blob": f"https://{inputs.get('accountName', name)}.blob.core.windows.net/"}
    return out


def stack_reference_outputs(name: str) -> dict[str, Any]:
    return {
        "resourceGroup": f"rg-of-{name}",
        "dnsZones": {"m3o.dev": f"rg-of-{name}", "m3o.com": f"rg-of-{name}", "m3o.app": f"rg-of-{name}"},
    }


def kubeconfig(cluster: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: {cluster}, cluster: {{server: 'https://{cluster}.hcp.example:443'}}}}]\n"
        f"contexts: [{{name: {cluster}, context: {{cluster: {cluster}, user: clusterUser}}}}]\n"
        f"current-context: {cluster}\nusers: [{{name: clusterUser, user: {{}}}}]\n"
    )
