"""WorkloadIdentity: an Azure identity that one Kubernetes ServiceAccount may act as.

A user-assigned identity, a federated credential that trusts tokens the cluster's OIDC issuer
mints for exactly that ServiceAccount, and role assignments on exactly the given scopes.
No secret exists anywhere: the pod exchanges its projected token for an Azure token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.azure.arm import ArmResource
from components.azure.grants import role_assignment
from components.kubernetes.contracts import ServiceAccountRef


@dataclass(frozen=True)
class WorkloadIdentityArgs:
    identity_name: str
    """Azure name of the identity (see naming.identity)."""
    resource_group_name: pulumi.Input[str]
    location: str
    oidc_issuer_url: pulumi.Input[str]
    """The AKS cluster's OIDC issuer; only its tokens are trusted."""
    service_account: ServiceAccountRef
    """The one ServiceAccount allowed to use the identity (the federated subject)."""
    role_definition_id: pulumi.Input[str]
    """The role granted on every scope: a custom role of roles.py."""
    tags: dict[str, str]
    """The identity's tags (tags.tags)."""
    scopes: Mapping[str, pulumi.Input[str]]
    """label → resource ID to grant `role` on; nothing else is granted."""


class WorkloadIdentity(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    """What the pod's ServiceAccount annotation and cert-manager's solver name."""
    principal_id: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:WorkloadIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = ArmResource(
            f"{name}-identity",
            "azure-native:managedidentity:UserAssignedIdentity",
            {
                "resourceName": args.identity_name,
                "resourceGroupName": args.resource_group_name,
                "location": args.location,
                "tags": args.tags,
            },
            child,
            reads=["clientId", "principalId"],
        )
        account = args.service_account
        ArmResource(
            f"{name}-federation",
            "azure-native:managedidentity:FederatedIdentityCredential",
            {
                "federatedIdentityCredentialResourceName": f"{account.namespace}-{account.name}",
                "resourceName": identity.output("name"),
                "resourceGroupName": args.resource_group_name,
                "issuer": args.oidc_issuer_url,
                "subject": account.subject,
                "audiences": ["api://AzureADTokenExchange"],
            },
            pulumi.ResourceOptions(parent=identity),
        )
        for label, scope in args.scopes.items():
            role_assignment(
                f"{name}-{label}",
                scope=scope,
                principal_id=identity.output("principalId"),
                principal_type="ServicePrincipal",
                role_definition_id=args.role_definition_id,
                opts=pulumi.ResourceOptions(parent=identity),
            )
        self.client_id = identity.output("clientId")
        self.principal_id = identity.output("principalId")
        self.register_outputs({"client_id": self.client_id, "principal_id": self.principal_id})
