"""WorkloadIdentity: an Azure identity that one Kubernetes ServiceAccount may act as.

A user-assigned identity, a federated credential that trusts tokens the cluster's OIDC issuer
mints for exactly that ServiceAccount, and role assignments on exactly the given scopes.
No secret exists anywhere: the pod exchanges its projected token for an Azure token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource
from components.azure.roles import definition_id
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
    subscription_id: pulumi.Input[str]
    role: str
    """Built-in role GUID granted on every scope (see roles.py)."""
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
        role_definition = pulumi.Output.from_input(args.subscription_id).apply(
            lambda sub: definition_id(sub, args.role)
        )
        for label, scope in args.scopes.items():
            ArmResource(
                f"{name}-{label}",
                "azure-native:authorization:RoleAssignment",
                {
                    "roleAssignmentName": naming.role_assignment(args.identity_name, args.role, label),
                    "principalId": identity.output("principalId"),
                    # ServicePrincipal avoids the replication race of a fresh identity ("principal not found").
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": role_definition,
                    "scope": scope,
                },
                pulumi.ResourceOptions(parent=identity),
            )
        self.client_id = identity.output("clientId")
        self.principal_id = identity.output("principalId")
        self.register_outputs({"client_id": self.client_id, "principal_id": self.principal_id})
