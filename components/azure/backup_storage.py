"""BackupStorage: the blob container CockroachDB backs up into, reachable only by identity.

Shared keys are disabled, so the only way in is Entra ID: the CockroachDB nodes' workload
identity. Zone-redundant, protected and retained: losing it loses every backup. A lifecycle
rule deletes backups past the environment's retention.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource
from infra.config.model import Backup

CONTAINER = "cockroach-backups"


@dataclass(frozen=True)
class BackupStorageArgs:
    environment: str
    region: str
    resource_group_name: pulumi.Input[str]
    backup: Backup


class BackupStorage(pulumi.ComponentResource):
    account_name: pulumi.Output[str]
    container_name: pulumi.Output[str]
    container_id: pulumi.Output[str]
    """Scope of the blob writer role: the container, not the account."""

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:BackupStorage", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        account = ArmResource(
            f"{name}-account",
            "azure-native:storage:StorageAccount",
            {
                "accountName": naming.storage_account(args.environment, args.region, "backup"),
                "resourceGroupName": args.resource_group_name,
                "location": args.region,
                "kind": "StorageV2",
                "sku": {"name": "Standard_ZRS"},
                "accessTier": "Cool",  # written hourly, read only to restore
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "enableHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
                "publicNetworkAccess": "Enabled",  # AKS egress is the public load balancer
                "tags": {"environment": args.environment, "region": args.region, "purpose": "cockroach-backups"},
            },
            keep,
        )
        container = ArmResource(
            f"{name}-container",
            "azure-native:storage:BlobContainer",
            {
                "containerName": CONTAINER,
                "accountName": account.output("name"),
                "resourceGroupName": args.resource_group_name,
                "publicAccess": "None",
            },
            pulumi.ResourceOptions(parent=account, protect=True, retain_on_delete=True),
        )
        ArmResource(
            f"{name}-retention",
            "azure-native:storage:ManagementPolicy",
            {
                "managementPolicyName": "default",
                "accountName": account.output("name"),
                "resourceGroupName": args.resource_group_name,
                "policy": {"rules": [retention_rule(args.backup.retention_days)]},
            },
            pulumi.ResourceOptions(parent=account),
        )
        self.account_name = account.output("name")
        self.container_name = container.output("name")
        self.container_id = container.id
        self.register_outputs(
            {
                "account_name": self.account_name,
                "container_name": self.container_name,
                "container_id": self.container_id,
            }
        )


def retention_rule(days: int) -> dict:
    """Delete backup blobs `days` after they were last modified."""
    return {
        "name": "expire-backups",
        "enabled": True,
        "type": "Lifecycle",
        "definition": {
            "filters": {"blobTypes": ["blockBlob"], "prefixMatch": [f"{CONTAINER}/"]},
            "actions": {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": days}}},
        },
    }
