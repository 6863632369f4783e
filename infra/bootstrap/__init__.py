"""`infra bootstrap --env E`: what an environment's team needs before its first `up`, as a Pulumi program.

For environment E (a cloud environment of environments/), in E's primary region:
- the resource groups E's stacks deploy into (one per region, and DNS), made here so that E's
  deployer can be given roles on them and on nothing else; the main program adopts them once
  (`pulumi import`, printed by `infra bootstrap`);
- a Key Vault and key for E's secrets provider, addressed by a versioned key URL (SecretsVault);
- E's deployer identity, trusted for `repo:<owner>/<repo>:environment:E` only: Contributor, a
  constrained role administrator, AKS RBAC Cluster Admin and an authorization role (custom roles, locks,
  policy assignments: what Contributor may not write) on E's groups, blob data on the state
  container, crypto on E's key;
- the read-only identity's roles on E: Reader and AKS read on E's groups, crypto on E's key.
The first environment of the promotion chain (the one without `promote_from`: staging) also owns
what all environments share: the state storage account (StateBackend) and the read-only identity,
trusted for `pull_request` and `ref:refs/heads/main`. Every later environment reads those from the
first one's bootstrap stack (a StackReference), so the first is bootstrapped first.

Where this program's own state lives (the chicken and the egg): the backend it creates does not
exist before its first run, so that run keeps its state in a local file backend
(`.pulumi-state/bootstrap`, gitignored); `infra bootstrap` then prints the two commands that move it
into the `bootstrap-state` container it just made, and every later run uses that container. The
choice: the state ends up versioned, soft-deleted and locked like every other stack's, readable by
the people who run bootstrap and by no CI identity (none has a role on that container), and nothing
besides the one Azure account has to exist first. Keeping it in the `pulumi-state` container
instead would let every deployer rewrite the record of its own permissions; keeping it local
would lose it with the laptop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from components.azure import naming, roles
from components.azure.arm import ArmResource, client_config
from components.azure.github_identity import GithubIdentity, GithubIdentityArgs, Grant, assign, assignable_only
from components.azure.grants import custom_role
from components.azure.secrets_vault import SecretsVault, SecretsVaultArgs
from components.azure.state_backend import StateBackend, StateBackendArgs
from infra.config.model import Environment

PROJECT = "micro-infra-bootstrap"
LOCAL_STATE = ".pulumi-state/bootstrap"
"""The first run's state, before the bootstrap-state container exists (relative to the repository)."""


def program_roles(env: Environment) -> tuple[str, ...]:
    """The roles the main program assigns for E (components/azure): all its deployer may hand out.

    Built-in: Network Contributor (edge IPs) and AKS RBAC Cluster Admin (deployer and operators); custom,
    per region: cert-manager's TXT writer and CockroachDB's backup writer, whose GUIDs derive from their names.
    """
    custom = (
        naming.role_definition(naming.custom_role(env.name, r.name, purpose))
        for r in env.regions
        for purpose in (roles.ACME_ROLE, roles.BACKUP_ROLE)
    )
    return (roles.NETWORK_CONTRIBUTOR, roles.AKS_RBAC_CLUSTER_ADMIN, *custom)


def reader_subjects(repo: str) -> tuple[str, ...]:
    """The read-only identity: pull-request previews, and runs on main (drift, the saved platform plan, promote).

    GitHub's `sub` claim: `repo:<owner>/<repo>:pull_request` for pull_request events, and
    `repo:<owner>/<repo>:ref:<ref>` for a job without an environment on a branch
    (docs.github.com/actions/reference/security/oidc#example-subject-claims).
    """
    return (f"repo:{repo}:pull_request", f"repo:{repo}:ref:refs/heads/main")


def deployer_subjects(repo: str, env: str) -> tuple[str, ...]:
    """A job with `environment: <env>` gets `repo:<owner>/<repo>:environment:<env>`, whatever its event."""
    return (f"repo:{repo}:environment:{env}",)


def team_groups(env: Environment) -> list[str]:
    """The resource groups the main program deploys E into (components/azure/azure_region.py, edge_ips.py,
    dns_zones.py)."""
    primary = env.regions[0].name
    return [
        *(naming.resource_group(env.name, r.name) for r in env.regions),
        *(naming.resource_group(env.name, r.name, "edge") for r in env.regions),
        naming.resource_group(env.name, primary, "dns"),
    ]


@dataclass(frozen=True)
class Bootstrap:
    environment: Environment
    repository: str
    """owner/name on GitHub."""

    @property
    def first(self) -> bool:
        """Owns the shared state account and the read-only identity."""
        return self.environment.promote_from is None

    @property
    def region(self) -> str:
        return self.environment.regions[0].name

    def program(self) -> Callable[[], None]:
        return self._run

    def _run(self) -> None:
        env, region = self.environment, self.region
        client = client_config()
        subscription, tenant = client["subscriptionId"], client["tenantId"]
        keep = pulumi.ResourceOptions(protect=True, retain_on_delete=True)
        group = ArmResource(
            f"{env.name}-bootstrap-rg",
            "azure-native:resources:ResourceGroup",
            {
                "resourceGroupName": naming.resource_group(env.name, region, "bootstrap"),
                "location": region,
                "tags": {"environment": env.name, "purpose": "bootstrap"},
            },
            keep,
        )
        groups = {
            name: ArmResource(
                f"{env.name}-{name}",
                "azure-native:resources:ResourceGroup",
                {"resourceGroupName": name, "location": _location(env, name), "tags": {"environment": env.name}},
                keep,
            )
            for name in team_groups(env)
        }
        vault = SecretsVault(
            f"{env.name}-secrets",
            SecretsVaultArgs(env.name, region, group.output("name"), tenant),
        )
        if self.first:
            state = StateBackend(f"{env.name}-state", StateBackendArgs(env.name, region, group.output("name")))
            reader = GithubIdentity(
                f"{env.name}-reader",
                GithubIdentityArgs(
                    name=naming.identity(env.name, region, "github-reader"),
                    resource_group_name=group.output("name"),
                    location=region,
                    subscription_id=subscription,
                    subjects=reader_subjects(self.repository),
                    grants=[Grant(roles.STORAGE_BLOB_DATA_READER, state.state_container_id, "state")],
                ),
            )
            backend_url = pulumi.Output.from_input(state.backend_url)
            bootstrap_url = pulumi.Output.from_input(state.bootstrap_backend_url)
            container_id, reader_principal, reader_client = (
                state.state_container_id,
                reader.principal_id,
                reader.client_id,
            )
        else:
            first = pulumi.StackReference(f"organization/{PROJECT}/{env.promote_from}")
            backend_url, bootstrap_url = first.get_output("backendUrl"), first.get_output("bootstrapBackendUrl")
            container_id = first.get_output("stateContainerId")
            reader_principal, reader_client = first.get_output("readerPrincipalId"), first.get_output("readerClientId")
        readable = [
            *(Grant(role, g.id, f"{name}-{key}") for name, g in groups.items() for role, key in _READ_ROLES),
            Grant(roles.KEY_VAULT_CRYPTO_USER, vault.key_id, f"{env.name}-key"),
        ]
        for grant in readable:
            assign(
                f"{env.name}-reader-{grant.key}",
                "github-reader",
                reader_principal,
                subscription,
                grant,
                pulumi.ResourceOptions(),
            )
        condition = assignable_only(*program_roles(env))
        # The deployer's Microsoft.Authorization rights (roles.DEPLOYER_AUTHORIZATION), one custom role per group;
        # each grant's scope waits on its definition, which must exist before it is assigned.
        authorization = {
            name: custom_role(
                f"{env.name}-{name}-authorization-role",
                role_name=naming.custom_role(env.name, name, roles.DEPLOYER_AUTHORIZATION_ROLE),
                description="micro-infra deployer: custom roles, locks and policy assignments in this group.",
                scope=g.id,
                permissions=roles.DEPLOYER_AUTHORIZATION,
                opts=pulumi.ResourceOptions(),
            )
            for name, g in groups.items()
        }
        deployer = GithubIdentity(
            f"{env.name}-deployer",
            GithubIdentityArgs(
                name=naming.identity(env.name, region, "github-deployer"),
                resource_group_name=group.output("name"),
                location=region,
                subscription_id=subscription,
                subjects=deployer_subjects(self.repository, env.name),
                grants=[
                    *(
                        Grant(role, g.id, f"{name}-{key}", condition if role == roles.RBAC_ADMINISTRATOR else None)
                        for name, g in groups.items()
                        for role, key in _DEPLOY_ROLES
                    ),
                    *(
                        Grant(
                            naming.role_definition(
                                naming.custom_role(env.name, name, roles.DEPLOYER_AUTHORIZATION_ROLE)
                            ),
                            pulumi.Output.all(groups[name].id, definition.id).apply(lambda parts: parts[0]),
                            f"{name}-authorization",
                        )
                        for name, definition in authorization.items()
                    ),
                    Grant(roles.STORAGE_BLOB_DATA_CONTRIBUTOR, container_id, "state"),
                    Grant(roles.KEY_VAULT_CRYPTO_USER, vault.key_id, f"{env.name}-key"),
                ],
            ),
        )
        pulumi.export("environment", env.name)
        pulumi.export("tenantId", tenant)
        pulumi.export("subscriptionId", subscription)
        pulumi.export("backendUrl", backend_url)
        pulumi.export("bootstrapBackendUrl", bootstrap_url)
        pulumi.export("stateContainerId", container_id)
        pulumi.export("secretsProvider", vault.secrets_provider)
        pulumi.export("readerClientId", reader_client)
        pulumi.export("readerPrincipalId", reader_principal)
        pulumi.export("deployerClientId", deployer.client_id)
        pulumi.export("resourceGroups", {name: g.id for name, g in groups.items()})


_DEPLOY_ROLES = (
    (roles.CONTRIBUTOR, "contributor"),
    (roles.RBAC_ADMINISTRATOR, "role-admin"),
    (roles.AKS_RBAC_CLUSTER_ADMIN, "aks-admin"),
)
_READ_ROLES = (
    (roles.READER, "reader"),
    (roles.AKS_CLUSTER_USER, "aks-user"),
    (roles.AKS_RBAC_READER, "aks-reader"),
)


def _location(env: Environment, group: str) -> str:
    return next((r.name for r in env.regions if group == naming.resource_group(env.name, r.name)), env.regions[0].name)


PLACEHOLDER = "(known after `infra bootstrap --env {env}`)"


def github_settings(boot: Bootstrap, outputs: dict[str, Any] | None, stacks: list[str]) -> dict[str, Any]:
    """The repository variables, secrets and GitHub environments the workflows read, and the stack steps.

    `outputs` are the bootstrap stack's outputs after `up`; None (a dry run) prints placeholders.
    """
    env = boot.environment.name

    def value(key: str) -> str:
        found = (outputs or {}).get(key)
        return str(found) if found else PLACEHOLDER.format(env=env)

    production = boot.environment.promote_from is not None
    environment = {
        "variables": {"AZURE_DEPLOY_CLIENT_ID": value("deployerClientId")},
        "deploymentBranches": ["main"],
        "requiredReviewers": production,
    }
    subscription = value("subscriptionId")
    return {
        "repositoryVariables": {
            "AZURE_TENANT_ID": value("tenantId"),
            "AZURE_SUBSCRIPTION_ID": subscription,
            "PULUMI_BACKEND_URL": value("backendUrl"),
            "AZURE_READER_CLIENT_ID": value("readerClientId"),
            "PROMOTE_APP_CLIENT_ID": "(the client ID of a GitHub App with contents and pull-requests write)",
        },
        "repositorySecrets": {"PROMOTE_APP_PRIVATE_KEY": "(that GitHub App's private key)"},
        "environments": {env: environment},
        "stackCommands": [
            f"pulumi stack change-secrets-provider --stack {s} '{value('secretsProvider')}'" for s in stacks
        ],
    }
