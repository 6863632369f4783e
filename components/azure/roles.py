"""Built-in Azure role definitions, by GUID (the names can be renamed; the GUIDs cannot).

GUIDs: MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles/{networking,containers,
storage}.md; the AKS one as mspnp/aks-baseline workload-team/cluster-stamp.bicep assigns it.
"""

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
"""Lets the AKS control plane attach the static public IPs to its load balancer."""
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"
"""`Microsoft.Network/dnsZones/*`: rewrite any record or delete the zone. Granted to nobody: cert-manager gets
ACME_TXT_WRITER; the policy pack fails a stack that grants this."""
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Read, write and *delete* blobs. Granted to nobody: CockroachDB gets BACKUP_WRITER; the policy pack fails a
stack that grants this."""
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Azure Kubernetes Service RBAC Cluster Admin: every Kubernetes DataAction on the cluster (Azure RBAC mode)."""

BUILT_IN_ALLOWED = {
    AKS_RBAC_CLUSTER_ADMIN: "deployer and operators, on the cluster",
    NETWORK_CONTRIBUTOR: "the AKS control plane, on the edge IP group",
}
"""Every built-in role the program may grant, and to whom; anything wider is a custom role below."""

ACME_TXT_WRITER = {
    # DNS-01 needs the zone (to find it) and TXT records under _acme-challenge, nothing else
    # (cert-manager docs: configuring-acme/dns01/azuredns; the review's finding 8). A and NS records stay out of reach.
    "actions": ["Microsoft.Network/dnsZones/read", "Microsoft.Network/dnsZones/TXT/*"],
    "notActions": [],
    "dataActions": [],
    "notDataActions": [],
}
"""cert-manager's role on the zones."""
BACKUP_WRITER = {
    # CockroachDB's BACKUP lists, reads and writes blobs; it never needs to delete one: old backups expire through
    # the account's lifecycle policy, which the storage service runs, not the writer. (Inferred from the backup
    # layout; confirm with a staging backup and restore before relying on it.)
    "actions": ["Microsoft.Storage/storageAccounts/blobServices/containers/read"],
    "notActions": [],
    "dataActions": [
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
    ],
    "notDataActions": [],
}
"""CockroachDB's role on its container: Storage Blob Data Contributor without delete, so a compromised writer
cannot erase the restore points."""


def definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"
