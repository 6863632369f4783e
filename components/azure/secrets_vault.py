"""SecretsVault: one environment's Key Vault and key for Pulumi's `azurekeyvault://` secrets provider.

Each environment gets its own vault, so Key Vault RBAC separates who can decrypt staging's secrets from
who can decrypt platform's. The secrets provider URL names the key *with its version*: a versionless URL
follows the newest version, and after a rotation it could no longer decrypt state written with the old
one (pulumi/pulumi#22338). Soft delete and purge protection keep a deleted key recoverable: losing it
loses every secret in the stack's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource

KEY_NAME = "pulumi-secrets"
SOFT_DELETE_DAYS = 90


@dataclass(frozen=True)
class SecretsVaultArgs:
    environment: str
    region: str
    resource_group_name: pulumi.Input[str]
    tenant_id: pulumi.Input[str]


class SecretsVault(pulumi.ComponentResource):
    vault_name: str
    key_id: pulumi.Output[str]
    """Scope of the identities' Key Vault Crypto User role: this key only."""
    secrets_provider: pulumi.Output[str]
    """azurekeyvault://<vault>.vault.azure.net/keys/pulumi-secrets/<version>"""

    def __init__(self, name: str, args: SecretsVaultArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:SecretsVault", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        self.vault_name = naming.key_vault(args.environment, args.region)
        vault = ArmResource(
            f"{name}-vault",
            "azure-native:keyvault:Vault",
            {
                "vaultName": self.vault_name,
                "resourceGroupName": args.resource_group_name,
                "location": args.region,
                "properties": {
                    "tenantId": args.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "enableRbacAuthorization": True,  # roles per key, not vault access policies
                    "enableSoftDelete": True,
                    "softDeleteRetentionInDays": SOFT_DELETE_DAYS,
                    "enablePurgeProtection": True,
                },
                "tags": {"environment": args.environment, "purpose": "pulumi-secrets"},
            },
            keep,
        )
        key = ArmResource(
            f"{name}-key",
            "azure-native:keyvault:Key",
            {
                "keyName": KEY_NAME,
                "vaultName": self.vault_name,
                "resourceGroupName": args.resource_group_name,
                "properties": {"kty": "RSA", "keySize": 4096, "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"]},
            },
            pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=[vault])),
            reads=["properties"],
        )
        self.key_id = key.id
        self.secrets_provider = key.output("properties").apply(_provider_url)
        self.register_outputs({"secretsProvider": self.secrets_provider, "keyId": self.key_id})


def _provider_url(properties: dict | None) -> str:
    """https://<vault>.vault.azure.net/keys/<key>/<version> → azurekeyvault://<vault>.vault.azure.net/keys/<key>/<version>."""
    uri = str((properties or {}).get("keyUriWithVersion") or "")
    return "azurekeyvault://" + uri.removeprefix("https://") if uri else ""
