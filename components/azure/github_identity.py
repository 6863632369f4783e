"""GithubIdentity: an Azure identity that GitHub Actions signs in as with OIDC, and its roles.

A user-assigned managed identity trusts GitHub's token issuer for exact `sub` claims (one federated
credential each); `azure/login` with its client ID gets a token without any stored secret. Its roles
are assigned at the scopes given (resource groups, the state container, one Key Vault key), never the
subscription.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.azure import naming, roles
from components.azure.arm import ArmResource

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "api://AzureADTokenExchange"
"""The audience azure/login asks for (its `audience` input's default)."""


@dataclass(frozen=True)
class Grant:
    role: str
    """A built-in role GUID (components/azure/roles.py)."""
    scope: pulumi.Input[str]
    key: str
    """Stable words naming the scope, for the assignment's GUID and resource name."""
    condition: str | None = None
    """An ABAC condition (version 2.0), e.g. the roles a role administrator may hand out."""


@dataclass(frozen=True)
class GithubIdentityArgs:
    name: str
    """The identity's Azure name (naming.identity)."""
    resource_group_name: pulumi.Input[str]
    location: str
    subscription_id: pulumi.Input[str]
    subjects: tuple[str, ...]
    """Exact `sub` claims it trusts, e.g. repo:<owner>/<repo>:environment:staging."""
    grants: list[Grant] = field(default_factory=list)


class GithubIdentity(pulumi.ComponentResource):
    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]

    def __init__(self, name: str, args: GithubIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:GithubIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = ArmResource(
            f"{name}-identity",
            "azure-native:managedidentity:UserAssignedIdentity",
            {"resourceName": args.name, "resourceGroupName": args.resource_group_name, "location": args.location},
            child,
            reads=["clientId", "principalId"],
        )
        for index, subject in enumerate(args.subjects):
            ArmResource(
                f"{name}-federated-{index}",
                "azure-native:managedidentity:FederatedIdentityCredential",
                {
                    "resourceName": identity.output("name"),
                    "resourceGroupName": args.resource_group_name,
                    "federatedIdentityCredentialResourceName": f"github-{index}",
                    "issuer": GITHUB_ISSUER,
                    "subject": subject,
                    "audiences": [AUDIENCE],
                },
                pulumi.ResourceOptions(parent=self, depends_on=[identity]),
            )
        principal = identity.output("principalId")
        for grant in args.grants:
            assign(f"{name}-{grant.key}", args.name, principal, args.subscription_id, grant, child)
        self.client_id = identity.output("clientId")
        self.principal_id = principal
        self.register_outputs({"clientId": self.client_id, "principalId": self.principal_id})


def assign(
    name: str,
    identity: str,
    principal_id: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    grant: Grant,
    opts: pulumi.ResourceOptions,
) -> ArmResource:
    """One role assignment for `identity`; its GUID name derives from identity, role and scope (idempotent)."""
    inputs: dict[str, object] = {
        "roleAssignmentName": naming.role_assignment(identity, grant.role, grant.key),
        "principalId": principal_id,
        "principalType": "ServicePrincipal",
        "roleDefinitionId": pulumi.Output.from_input(subscription_id).apply(
            lambda sub: roles.definition_id(sub, grant.role)
        ),
        "scope": grant.scope,
    }
    if grant.condition:
        inputs |= {"condition": grant.condition, "conditionVersion": "2.0"}
    return ArmResource(name, "azure-native:authorization:RoleAssignment", inputs, opts)


def assignable_only(*role_ids: str) -> str:
    """An ABAC condition: the role administrator may assign (and remove) only these roles.

    The documented "constrain roles" form (learn.microsoft.com/azure/role-based-access-control/
    delegate-role-assignments-examples): any other roleAssignments write or delete is refused.
    """
    guids = "{" + ", ".join(role_ids) + "}"
    attribute = "Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals"
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        f"(@Request[{attribute} {guids}))"
        " AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        f"(@Resource[{attribute} {guids}))"
    )
