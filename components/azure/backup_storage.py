"""BackupStorage: the blob container CockroachDB backs up into, which its writer cannot empty.

Shared keys are disabled, so the only way in is Entra ID: the CockroachDB nodes' workload
identity, whose role (roles.BACKUP_WRITER) has no delete. Deleted or overwritten blobs stay
recoverable (soft delete and versioning), a CanNotDelete lock stops the account being deleted by
anyone short of removing the lock, and a lifecycle rule expires backups past the environment's
retention (the storage service deletes them, not the writer). Zone-redundant, protected and retained.
Following https://learn.microsoft.com/azure/storage/blobs/data-protection-overview.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource
from components.azure.tags import tags
from infra.config.model import Backup

CONTAINER = "cockroach-backups"
SOFT_DELETE_DAYS = 14
"""Deleted blobs and containers stay restorable this long: two weeks to notice a compromise."""
COOL_AFTER_DAYS = 7
"""Backups older than this are read only to restore; Cool is cheaper to keep them in."""
COOL_MINIMUM_DAYS = 30
"""Cool bills at least 30 days per blob (https://learn.microsoft.com/azure/storage/blobs/access-tiers-overview)."""


@dataclass(frozen=True)
class BackupStorageArgs:
    environment: str
    region: str
    resource_group_name: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    """Seeds the account's globally unique name."""
    backup: Backup


class BackupStorage(pulumi.ComponentResource):
    account_name: pulumi.Output[str]
    container_name: pulumi.Output[str]
    container_id: pulumi.Output[str]
    """Scope of the blob writer role: the container, not the account."""

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:BackupStorage", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        env, region = args.environment, args.region
        account = ArmResource(
            f"{name}-account",
            "azure-native:storage:StorageAccount",
            {
                "accountName": pulumi.Output.from_input(args.subscription_id).apply(
                    lambda sub: naming.storage_account(env, region, "backup", sub)
                ),
                "resourceGroupName": args.resource_group_name,
                "location": region,
                "kind": "StorageV2",
                "sku": {"name": "Standard_ZRS"},
                # Hot: written hourly and the chain's manifests are read on every incremental; the lifecycle rule
                # moves old backups to Cool only where they then stay Cool's 30-day minimum.
                "accessTier": "Hot",
                "allowBlobPublicAccess": False,
                "allowSharedKeyAccess": False,
                "enableHttpsTrafficOnly": True,
                "minimumTlsVersion": "TLS1_2",
                # Accepted risk: AKS egress is the public load balancer, whose address is not owned here, so the
                # account cannot restrict networks; Entra ID (no shared keys) is the control.
                "publicNetworkAccess": "Enabled",
                "tags": tags(env, region, "cockroach-backups"),
            },
            keep,
        )
        account_name = account.output("name")
        ArmResource(
            f"{name}-protection",
            "azure-native:storage:BlobServiceProperties",
            {
                "blobServicesName": "default",
                "accountName": account_name,
                "resourceGroupName": args.resource_group_name,
                "deleteRetentionPolicy": {"enabled": True, "days": SOFT_DELETE_DAYS},
                "containerDeleteRetentionPolicy": {"enabled": True, "days": SOFT_DELETE_DAYS},
                "isVersioningEnabled": True,
            },
            pulumi.ResourceOptions(parent=account, protect=True),
        )
        ArmResource(
            f"{name}-lock",
            "azure-native:authorization:ManagementLockByScope",
            {
                "lockName": "backups-cannot-be-deleted",
                "scope": account.id,
                "level": "CanNotDelete",
                "notes": "CockroachDB's restore points; remove this lock deliberately, never as part of a deploy.",
            },
            pulumi.ResourceOptions(parent=account),
        )
        container = ArmResource(
            f"{name}-container",
            "azure-native:storage:BlobContainer",
            {
                "containerName": CONTAINER,
                "accountName": account_name,
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
                "accountName": account_name,
                "resourceGroupName": args.resource_group_name,
                "policy": {"rules": [retention_rule(args.backup.retention_days)]},
            },
            pulumi.ResourceOptions(parent=account),
        )
        self.account_name = account_name
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
    """Delete backups (and their old versions) `days` after they were written; tier them Cool when that pays."""
    base: dict = {"delete": {"daysAfterModificationGreaterThan": days}}
    if days - COOL_AFTER_DAYS >= COOL_MINIMUM_DAYS:
        base["tierToCool"] = {"daysAfterModificationGreaterThan": COOL_AFTER_DAYS}
    return {
        "name": "expire-backups",
        "enabled": True,
        "type": "Lifecycle",
        "definition": {
            "filters": {"blobTypes": ["blockBlob"], "prefixMatch": [f"{CONTAINER}/"]},
            "actions": {"baseBlob": base, "version": {"delete": {"daysAfterCreationGreaterThan": days}}},
        },
    }
