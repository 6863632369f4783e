"""`infra bootstrap`: its program under the offline engine (every resource, scope and federated subject),
the GitHub settings it prints against what the workflows read, and its bad-input exits."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.azure import roles
from components.azure.github_identity import AUDIENCE, GITHUB_ISSUER
from infra.bootstrap import Bootstrap, program_roles, team_groups
from infra.cli.main import app
from infra.config.loader import load_environment
from infra.plan.computed import resource_id
from infra.plan.engine import Graph, Registration, run
from tests.conftest import ROOT, stack_graph
from tests.test_arm_schema import _args_class, _unknown_keys
from tests.test_workflows import FILES, _cloud_jobs, oidc_subject

REPO = "acme/micro-infra"
runner = CliRunner()


@cache
def graph(env: str) -> Graph:
    environment = load_environment(ROOT / "environments" / f"{env}.yaml")
    return run(Bootstrap(environment, REPO).program(), env, {}, traceable=True)


def _id(r: Registration) -> str:
    return resource_id(r.type, r.name, r.raw_inputs())


def _grants(g: Graph) -> set[tuple[str, str, str]]:
    """(identity, role GUID, scope) of every role assignment; identity is `reader` or `deployer`."""
    principals = {f"principal-id-of-{r.name}": r.name.rsplit("-", 2)[-2] for r in g.of_type(_UAMI)}
    principals |= {"readerPrincipalId-of-organization/micro-infra-bootstrap/staging": "reader"}
    found = set()
    for r in g.of_type("azure-native:authorization:RoleAssignment"):
        inputs = r.raw_inputs()
        assert inputs["principalType"] == "ServicePrincipal"
        role = inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        assert inputs["roleDefinitionId"] == roles.definition_id(inputs["roleDefinitionId"].split("/")[2], role)
        found.add((principals[inputs["principalId"]], role, inputs["scope"]))
    return found


_UAMI = "azure-native:managedidentity:UserAssignedIdentity"
_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
DEPLOY = (roles.CONTRIBUTOR, roles.RBAC_ADMINISTRATOR, roles.AKS_RBAC_CLUSTER_ADMIN)
READ = (roles.READER, roles.AKS_CLUSTER_USER, roles.AKS_RBAC_READER)


@pytest.mark.parametrize("env", ["staging", "platform"])
def test_every_resource_scope_and_subject(env: str) -> None:
    g = graph(env)
    first = env == "staging"
    groups = {r.raw_inputs()["resourceGroupName"]: r for r in g.of_type("azure-native:resources:ResourceGroup")}
    # The groups the main program deploys into, exactly (plus bootstrap's own).
    main = {r.inputs["resourceGroupName"] for r in stack_graph(env).of_type("azure-native:resources:ResourceGroup")}
    assert set(team_groups(load_environment(ROOT / "environments" / f"{env}.yaml"))) == main
    assert set(groups) == main | {f"rg-micro-{env}-uksouth-bootstrap"}
    assert all(r.protect for r in groups.values())

    vault = g.one("azure-native:keyvault:Vault", f"{env}-secrets-vault").raw_inputs()["properties"]
    assert vault["enableRbacAuthorization"] and vault["enablePurgeProtection"] and vault["enableSoftDelete"]
    key = g.one("azure-native:keyvault:Key", f"{env}-secrets-key")
    assert key.protect and key.raw_inputs()["properties"]["kty"] == "RSA"
    provider = g.outputs["secretsProvider"]
    assert re.fullmatch(
        rf"azurekeyvault://kv-micro-{env[:8]}-[0-9a-f]{{4}}\.vault\.azure\.net/keys/pulumi-secrets/\S+", provider
    )
    assert not provider.endswith("/pulumi-secrets"), "a versioned key URL (a versionless one breaks after rotation)"

    credentials = g.of_type("azure-native:managedidentity:FederatedIdentityCredential")
    subjects = {(c.name.rsplit("-", 3)[-3], c.raw_inputs()["subject"]) for c in credentials}
    expected = {("deployer", f"repo:{REPO}:environment:{env}")}
    if first:
        expected |= {("reader", f"repo:{REPO}:pull_request"), ("reader", f"repo:{REPO}:ref:refs/heads/main")}
    assert subjects == expected
    for c in credentials:
        assert c.raw_inputs()["issuer"] == GITHUB_ISSUER and c.raw_inputs()["audiences"] == [AUDIENCE]

    team = {_id(groups[name]) for name in main}
    key_id = _id(key)
    if first:
        container = _id(g.one("azure-native:storage:BlobContainer", "staging-state-pulumi-state"))
        account = g.one("azure-native:storage:StorageAccount", "staging-state-account")
        assert account.raw_inputs()["allowSharedKeyAccess"] is False and account.protect
        blob = g.one("azure-native:storage:BlobServiceProperties", "staging-state-blob-service").raw_inputs()
        assert blob["isVersioningEnabled"] is True
        assert blob["deleteRetentionPolicy"]["enabled"] and blob["containerDeleteRetentionPolicy"]["enabled"]
        lock = g.one("azure-native:authorization:ManagementLockByScope", "staging-state-lock").raw_inputs()
        assert lock["level"] == "CanNotDelete" and lock["scope"] == _id(account)
        names = {r.raw_inputs()["containerName"] for r in g.of_type("azure-native:storage:BlobContainer")}
        assert names == {"pulumi-state", "bootstrap-state"}
        assert g.outputs["backendUrl"] == f"azblob://pulumi-state?storage_account={account.raw_inputs()['accountName']}"
    else:
        assert g.of_type("azure-native:storage:StorageAccount") == [], "the state account is staging's"
        container = "stateContainerId-of-organization/micro-infra-bootstrap/staging"
    want = (
        {("deployer", role, scope) for role in DEPLOY for scope in team}
        | {("reader", role, scope) for role in READ for scope in team}
        | {("deployer", roles.STORAGE_BLOB_DATA_CONTRIBUTOR, container)}
        | {("deployer", roles.KEY_VAULT_CRYPTO_USER, key_id), ("reader", roles.KEY_VAULT_CRYPTO_USER, key_id)}
    )
    if first:
        want |= {("reader", roles.STORAGE_BLOB_DATA_READER, container)}
    definitions = {r.raw_inputs()["scope"]: r.raw_inputs() for r in g.of_type(_ROLE_DEFINITION)}
    assert set(definitions) == team, "one authorization role per group the deployer deploys into"
    for scope, definition in definitions.items():
        assert definition["assignableScopes"] == [scope] and definition["permissions"] == [roles.DEPLOYER_AUTHORIZATION]
        want |= {("deployer", definition["roleDefinitionId"], scope)}
    assert _grants(g) == want, "no role at the subscription, none on another environment's scopes"
    for r in g.of_type("azure-native:authorization:RoleAssignment"):
        inputs = r.raw_inputs()
        if inputs["roleDefinitionId"].endswith(roles.RBAC_ADMINISTRATOR):
            assert set(re.findall(r"[0-9a-f-]{36}", inputs["condition"])) == set(
                program_roles(load_environment(ROOT / "environments" / f"{env}.yaml"))
            )
            assert inputs["conditionVersion"] == "2.0"
        else:
            assert "condition" not in inputs
    azure = [r for r in g.registrations if r.type.startswith("azure-native:")]
    assert [p for r in azure for p in _unknown_keys(r.inputs, _args_class(r.type), r.name)] == []


_ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"


@pytest.mark.parametrize("env", ["staging", "platform"])
def test_the_deployer_can_create_every_authorization_object_the_main_program_declares(env: str) -> None:
    """Contributor may not write under Microsoft.Authorization: whatever the main program creates there, the
    bootstrap must allow (roles it assigns, through the role administrator's condition; custom roles, locks and
    policy assignments, through the authorization role), and allow nothing more."""
    main = stack_graph(env)
    assigned = {
        r.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for r in main.of_type(_ASSIGNMENT)
        if isinstance(r.inputs.get("roleDefinitionId"), str)
    }
    assigned |= {r.inputs["roleDefinitionId"] for r in main.of_type(_ROLE_DEFINITION)}
    admin = next(
        r.raw_inputs()
        for r in graph(env).of_type(_ASSIGNMENT)
        if r.raw_inputs()["roleDefinitionId"].endswith(roles.RBAC_ADMINISTRATOR)
    )
    assert set(re.findall(r"[0-9a-f-]{36}", admin["condition"])) == assigned
    created = {r.type.split(":")[-1] for r in main.registrations if r.type.startswith("azure-native:authorization:")}
    writes = {a.split("/")[1] for a in roles.DEPLOYER_AUTHORIZATION["actions"] if a.endswith("/write")}
    kinds = {
        "RoleAssignment": None,
        "RoleDefinition": "roleDefinitions",
        "ManagementLockByScope": "locks",
        "PolicyAssignment": "policyAssignments",
    }
    assert created <= set(kinds), f"{created - set(kinds)}: a new Microsoft.Authorization type needs a right"
    used = {kinds[c] for c in created} - {None}
    assert used <= writes, f"the deployer cannot write {used - writes}"
    if env == "platform":  # every environment switch on: each right is used
        assert used == writes, f"{writes - used}: granted, never used"


def test_the_identities_trust_exactly_the_subjects_the_workflows_produce() -> None:
    produced = {f"repo:{REPO}:{oidc_subject(w, job)}" for w, _, job in _cloud_jobs()}
    trusted = {
        c.raw_inputs()["subject"]
        for env in ("staging", "platform")
        for c in graph(env).of_type("azure-native:managedidentity:FederatedIdentityCredential")
    }
    assert produced == trusted


def _bootstrap(*args: str, **env: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["bootstrap", *args], env={"GITHUB_REPOSITORY": "", **env})
    return result.exit_code, result.stdout, result.stderr


def test_dry_run_lists_the_resources_and_the_settings_the_workflows_read() -> None:
    code, stdout, stderr = _bootstrap("--env", "staging", "--github-repo", REPO, "--dry-run", "--json")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["dryRun"] is True
    planned = {(r["type"], r["name"]) for r in document["resources"]}
    assert planned == {(r.type, r.name) for r in graph("staging").registrations if r.custom}
    settings = document["github"]
    text = "\n".join(f.read_text() for f in FILES)
    read_vars = set(re.findall(r"vars\.([A-Z_]+)", text))
    read_secrets = set(re.findall(r"secrets\.([A-Z_]+)", text))
    environment_vars = set(settings["environments"]["staging"]["variables"])
    assert read_vars == set(settings["repositoryVariables"]) | environment_vars
    assert read_secrets == set(settings["repositorySecrets"])
    assert settings["environments"]["staging"]["requiredReviewers"] is False
    assert settings["stackCommands"] == [
        "pulumi stack change-secrets-provider --stack staging '(known after `infra bootstrap --env staging`)'"
    ]
    main = stack_graph("staging")
    adopt = settings["adoptCommands"]
    assert len(adopt) == len(main.of_type("azure-native:resources:ResourceGroup")) == 3  # region, edge, dns
    for r in main.of_type("azure-native:resources:ResourceGroup"):
        line = next(a for a in adopt if f" {r.name} " in a)
        parent = r.parent.replace("::pulumi:pulumi:Stack$", "::")  # as the real engine names it
        assert "pulumi:pulumi:Stack$" not in parent and parent.endswith(r.parent.rsplit("$", 1)[-1])
        assert f"/resourceGroups/{r.inputs['resourceGroupName']} --parent 'parent={parent}'" in line, line
    code, stdout, _ = _bootstrap("--env", "platform", "--github-repo", REPO, "--dry-run")
    assert code == 0 and "GitHub environment `platform` (deployment branches: main; required reviewers)" in stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--env", "prod", "--github-repo", REPO],
            {},
            "--env: no environment 'prod'; environments: local, parity, platform, staging",
        ),
        (["--env", "local", "--github-repo", REPO], {}, "--env: environments/local.yaml runs on kind (cloud: kind)"),
        (["--env", "staging"], {}, "--github-repo: missing: pass owner/name of the GitHub repository"),
        (["--env", "staging", "--github-repo", "acme"], {}, "--github-repo: 'acme' is not owner/name"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], env: dict[str, str], message: str, tmp_path: Path) -> None:
    code, stdout, stderr = _bootstrap(*args, "--dry-run", **env)
    assert code == 2 and stderr.startswith(message) and stderr.count("\n") == 1, stderr
    code, stdout, _ = _bootstrap(*args, "--dry-run", "--json", **env)
    assert code == 2 and json.loads(stdout)["error"]["message"].startswith(message)


def test_the_repository_can_come_from_github_repository() -> None:
    code, stdout, stderr = _bootstrap("--env", "staging", "--dry-run", "--json", GITHUB_REPOSITORY=REPO)
    assert code == 0 and json.loads(stdout)["environment"] == "staging", stderr
