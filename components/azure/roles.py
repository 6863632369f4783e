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
"""Read, write and *delete* blobs: a deployer writes Pulumi state with it (infra bootstrap). The platform's stacks
grant it to nobody: CockroachDB gets BACKUP_WRITER, and the policy pack fails a stack that grants it."""
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Azure Kubernetes Service RBAC Cluster Admin: every Kubernetes DataAction on the cluster (Azure RBAC mode)."""
# The GitHub identities `infra bootstrap` makes (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"  # Contributor (built-in roles table; 42a0, not 42e0)
"""A deployer manages everything in its own environment's resource groups."""
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
"""Role Based Access Control Administrator: the program's own role assignments (constrained by a condition)."""
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
"""The read-only identity: previews, refreshes and drift checks change nothing."""
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"
"""Azure Kubernetes Service Cluster User Role: lists the user kubeconfig the provider connects with."""
AKS_RBAC_READER = "7f6c6a51-bcf8-42ba-9220-52d62157d7db"
"""Azure Kubernetes Service RBAC Reader: the read-only identity reads the cluster's objects."""
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
"""The read-only identity reads the Pulumi state; previews take no lock and write nothing."""
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
"""Encrypt and decrypt with one key: the stack's secrets provider (azurekeyvault://)."""

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
ACME_ROLE = "acme-dns01"
"""ACME_TXT_WRITER's name, per environment and region (naming.custom_role)."""
BACKUP_ROLE = "backup-writer"
"""BACKUP_WRITER's name, per environment and region (naming.custom_role)."""
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

DEPLOYER_AUTHORIZATION_ROLE = "deployer-authorization"
"""DEPLOYER_AUTHORIZATION's name, per environment and resource group (naming.custom_role)."""
DEPLOYER_AUTHORIZATION = {
    # Contributor's NotActions are Microsoft.Authorization/*/Delete and */Write (Azure built-in roles table), so a
    # Contributor cannot create what the program declares under Microsoft.Authorization besides role assignments
    # (which the constrained role administrator covers): custom roles, CanNotDelete locks, policy assignments.
    "actions": [
        "Microsoft.Authorization/roleDefinitions/read",
        "Microsoft.Authorization/roleDefinitions/write",
        "Microsoft.Authorization/roleDefinitions/delete",
        "Microsoft.Authorization/locks/read",
        "Microsoft.Authorization/locks/write",
        "Microsoft.Authorization/locks/delete",
        "Microsoft.Authorization/policyAssignments/read",
        "Microsoft.Authorization/policyAssignments/write",
        "Microsoft.Authorization/policyAssignments/delete",
    ],
    "notActions": [],
    "dataActions": [],
    "notDataActions": [],
}
"""The deployer's rights beyond Contributor, on its environment's groups only. Trade-off: a deployer that can
manage the locks can also lift them; the locks guard against mistakes in other stacks and by people, and the
state's own account is locked by bootstrap, where no CI identity has rights."""


def definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"
