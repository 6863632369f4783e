"""StateBackend: the blob containers Pulumi keeps its state in (the `azblob://` DIY backend).

One storage account per repository, owned by the first environment's bootstrap: `pulumi-state` holds
every stack of the project, `bootstrap-state` the bootstrap stacks themselves (no CI identity has a role
on it). Versioning and soft delete keep every earlier state and recover a deleted blob or container;
a CanNotDelete lock keeps the account itself. Shared keys are off: the CLI authenticates through
DefaultAzureCredential (pulumi/docs using-a-diy-backend.md: `azblob://<container>?storage_account=<name>`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource

STATE_CONTAINER = "pulumi-state"
BOOTSTRAP_CONTAINER = "bootstrap-state"
RETENTION_DAYS = 30
"""How long a deleted or overwritten state blob (and a deleted container) can be brought back."""


@dataclass(frozen=True)
class StateBackendArgs:
    environment: str
    """The environment whose bootstrap owns the account (the first of the promotion chain)."""
    region: str
    resource_group_name: pulumi.Input[str]


class StateBackend(pulumi.ComponentResource):
    account_name: str
    backend_url: str
    """PULUMI_BACKEND_URL for every stack of the project."""
    bootstrap_backend_url: str
    state_container_id: pulumi.Output[str]
    """Scope of the identities' blob roles: the state container, not the account."""

    def __init__(self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:StateBackend", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        self.account_name = naming.storage_account(args.environment, args.region, "state")
        account = ArmResource(
            f"{name}-account",
            "azure-native:storage:StorageAccount",
            {
                "accountName": self.account_name,
                "resourceGroupName": args.resource_group_name,
                "location": args.region,
                "kind": "StorageV2",
                "sku": {"name": "Standard_ZRS"},
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,  # Entra ID only: the CLI signs in with DefaultAzureCredential
                "enableHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
                "tags": {"environment": args.environment, "purpose": "pulumi-state"},
            },
            keep,
        )
        ArmResource(
            f"{name}-blob-service",
            "azure-native:storage:BlobServiceProperties",
            {
                "accountName": account.output("name"),
                "resourceGroupName": args.resource_group_name,
                "blobServicesName": "default",
                "isVersioningEnabled": True,
                "deleteRetentionPolicy": {"enabled": True, "days": RETENTION_DAYS},
                "containerDeleteRetentionPolicy": {"enabled": True, "days": RETENTION_DAYS},
            },
            keep,
        )
        containers = {}
        for container in (STATE_CONTAINER, BOOTSTRAP_CONTAINER):
            containers[container] = ArmResource(
                f"{name}-{container}",
                "azure-native:storage:BlobContainer",
                {
                    "accountName": account.output("name"),
                    "resourceGroupName": args.resource_group_name,
                    "containerName": container,
                    "publicAccess": "None",
                },
                keep,
            )
        ArmResource(
            f"{name}-lock",
            "azure-native:authorization:ManagementLockByScope",
            {
                "scope": account.id,
                "lockName": "state-can-not-delete",
                "level": "CanNotDelete",
                "notes": "Pulumi state of every micro-infra stack; delete the lock first, on purpose",
            },
            pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.backend_url = f"azblob://{STATE_CONTAINER}?storage_account={self.account_name}"
        self.bootstrap_backend_url = f"azblob://{BOOTSTRAP_CONTAINER}?storage_account={self.account_name}"
        self.state_container_id = containers[STATE_CONTAINER].id
        self.register_outputs({"backendUrl": self.backend_url, "stateContainerId": self.state_container_id})
