"""Built-in Azure role definitions, by GUID (the names can be renamed; the GUIDs cannot)."""

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
"""Lets the AKS control plane attach the static public IPs to its load balancer."""
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"
"""Lets cert-manager write the _acme-challenge TXT records for DNS-01."""
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Lets CockroachDB write backups into its container, without account keys; a deployer write state."""
# The GitHub identities `infra bootstrap` makes (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
"""A deployer manages everything in its own environment's resource groups."""
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
"""Role Based Access Control Administrator: the program's own role assignments (constrained by a condition)."""
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
"""Azure Kubernetes Service RBAC Cluster Admin: a deployer applies the cluster's Kubernetes objects."""
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


def definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"
