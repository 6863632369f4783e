"""Traceable stand-ins for values that only a provider knows after deployment.

Each value names the resource it came from, so a test can prove wiring: a DNS record whose
address is `ip-of-edge-api` points at the `edge-api` public IP, and nothing else.
"""

from __future__ import annotations

from typing import Any

import yaml

_SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"


_OWN_NAME = {
    "ResourceGroup": "resourceGroupName",
    "BlobContainer": "containerName",
    "StorageAccount": "accountName",
    "PublicIPAddress": "publicIpAddressName",
    "Zone": "zoneName",
    "RecordSet": "relativeRecordSetName",
    "UserAssignedIdentity": "resourceName",
    "ManagedCluster": "resourceName",
    "FederatedIdentityCredential": "federatedIdentityCredentialResourceName",
    "RoleAssignment": "roleAssignmentName",
    "MaintenanceConfiguration": "configName",
    "ManagementPolicy": "managementPolicyName",
    "RoleDefinition": "roleDefinitionId",
    "ManagementLockByScope": "lockName",
    "PolicyAssignment": "policyAssignmentName",
    "Workspace": "workspaceName",
    "AzureMonitorWorkspace": "azureMonitorWorkspaceName",
    "DataCollectionEndpoint": "dataCollectionEndpointName",
    "DataCollectionRule": "dataCollectionRuleName",
    "DataCollectionRuleAssociation": "associationName",
    "BlobServiceProperties": "blobServicesName",
}


def own_name_key(typ: str) -> str:
    """The input that names an azure-native resource (`name` in its outputs)."""
    return _OWN_NAME.get(typ.split(":")[-1], "name")


def _own_name(typ: str, name: str, inputs: dict[str, Any]) -> str:
    return str(inputs.get(own_name_key(typ), name))


def resource_id(typ: str, name: str, inputs: dict[str, Any]) -> str:
    if typ.startswith("azure-native:"):
        rg = inputs.get("resourceGroupName", "rg")
        kind = typ.split(":")[-1]
        return f"{_SUB}/resourceGroups/{rg}/providers/{kind}/{_own_name(typ, name, inputs)}"
    return f"{name}-id"


def as_outputs(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs echoed as outputs, where the two shapes differ (azure-native identities: list → map)."""
    identity = inputs.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        ids = identity["userAssignedIdentities"]
        return {**inputs, "identity": {**identity, "userAssignedIdentities": {str(i): {} for i in ids}}}
    return inputs


def outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Computed properties the program reads, per resource type."""
    out: dict[str, Any] = {"name": _own_name(typ, name, inputs)} if typ.startswith("azure-native:") else {}
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
    elif typ == "azure-native:keyvault:Key":
        vault, key = inputs.get("vaultName", "vault"), inputs.get("keyName", name)
        uri = f"https://{vault}.vault.azure.net/keys/{key}/version-of-{name}"
        out["properties"] = {**inputs.get("properties", {}), "keyUri": uri.rsplit("/", 1)[0], "keyUriWithVersion": uri}
    elif typ == "random:index/randomPassword:RandomPassword":
        out["result"] = f"generated-password-of-{name}"  # a secret output: tests follow this marker
    return out


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def stack_reference_outputs(name: str, known: bool) -> dict[str, Any]:
    """A zone-owning stack's outputs: traceable in tests, unknown in a plan (as in a real preview).

    A bootstrap stack (infra/bootstrap) is referenced for what the first environment shares instead.
    """
    if "/micro-infra-bootstrap/" in name:
        keys = ("backendUrl", "bootstrapBackendUrl", "stateContainerId", "readerPrincipalId", "readerClientId")
        return {k: (f"{k}-of-{name}" if known else UNKNOWN) for k in keys}
    if not known:
        return {"resourceGroup": UNKNOWN, "dnsZones": UNKNOWN, "nameServers": UNKNOWN}
    group = f"rg-of-{name}"
    return {
        "resourceGroup": group,
        "dnsZones": {"m3o.dev": group, "m3o.com": group, "m3o.app": group},
        "nameServers": {"m3o.dev": [f"ns1-of-{name}"]},
    }


def kubeconfig(cluster: str) -> str:
    """What listManagedClusterUserCredentials returns for an Entra ID cluster: an exec config that runs kubelogin
    with an interactive device-code login (the shape `az aks get-credentials` writes; Azure/kubelogin
    docs/book/src/cli/get-token.md). The program must not hand this to a provider as it is."""
    user = f"clusterUser_{cluster}"
    exec_ = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "kubelogin",
        "args": ["get-token", "--login", "devicecode", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"],
        "interactiveMode": "IfAvailable",
    }
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {
                        "certificate-authority-data": f"ca-of-{cluster}",
                        "server": f"https://{cluster}.hcp.example:443",
                    },
                }
            ],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
            "current-context": cluster,
            "users": [{"name": user, "user": {"exec": exec_}}],
        }
    )
