"""BackupStorage: the blob container CockroachDB backs up into, reachable only by identity.

Shared keys are disabled, so the only way in is Entra ID: the CockroachDB nodes' workload
identity. Zone-redundant, protected and retained: losing it loses every backup. A lifecycle
rule deletes backups past the environment's retention.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from components.azure import naming
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
        account = storage.StorageAccount(
            f"{name}-account",
            account_name=naming.storage_account(args.environment, args.region, "backup"),
            resource_group_name=args.resource_group_name,
            location=args.region,
            kind="StorageV2",
            sku={"name": "Standard_ZRS"},
            access_tier="Cool",  # written hourly, read only to restore
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            public_network_access="Enabled",  # AKS egress is the public load balancer
            tags={"environment": args.environment, "region": args.region, "purpose": "cockroach-backups"},
            opts=keep,
        )
        container = storage.BlobContainer(
            f"{name}-container",
            container_name=CONTAINER,
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            public_access="None",
            opts=pulumi.ResourceOptions(parent=account, protect=True, retain_on_delete=True),
        )
        storage.ManagementPolicy(
            f"{name}-retention",
            management_policy_name="default",
            account_name=account.name,
            resource_group_name=args.resource_group_name,
            policy={"rules": [retention_rule(args.backup.retention_days)]},
            opts=pulumi.ResourceOptions(parent=account),
        )
        self.account_name = account.name
        self.container_name = container.name
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
            "filters": {"blob_types": ["blockBlob"], "prefix_match": [f"{CONTAINER}/"]},
            "actions": {"base_blob": {"delete": {"days_after_modification_greater_than": days}}},
        },
    }
