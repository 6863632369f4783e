"""Built-in Azure role definitions, by GUID (the names can be renamed; the GUIDs cannot).

GUIDs: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/{networking,containers,
storage}.md; the AKS one as mspnp/aks-baseline workload-team/cluster-stamp.bicep assigns it.
"""

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
"""Lets the AKS control plane attach the static public IPs to its load balancer."""
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"
"""Lets cert-manager write the _acme-challenge TXT records for DNS-01."""
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Lets CockroachDB write backups into its container, without account keys."""
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Azure Kubernetes Service RBAC Cluster Admin: every Kubernetes DataAction on the cluster (Azure RBAC mode)."""


def definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"
