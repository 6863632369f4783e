"""The policy pack's rules (policy/policies.py) over the committed stacks' plans, and over minimally broken copies.

Every policy is shown two ways: the real plan passes it, and a copy with one resource changed in one place is
caught, with the changed resource's URN in the violation. So a rule that stops looking (or looks at the wrong
field) fails here. The same functions run in CrossGuard (policy/__main__.py) and in `infra check`.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cli.main import app
from infra.guardrails import checks
from infra.plan import computed
from tests.conftest import ROOT, STACKS, stack_graph

P = checks.policies()
BY_NAME = {p.name: p for p in P.POLICIES}


def resources(stack: str) -> list[Any]:
    """The policies' view of a committed stack (the traceable plan `infra check` uses)."""
    return [checks.view(r) for r in stack_graph(stack).registrations]


def findings(policy: str, views: list[Any]) -> list[Any]:
    return P.run(BY_NAME[policy], views)


def broken(views: list[Any], match: Callable[[Any], bool], change: Callable[[dict], Any], **options: Any) -> tuple:
    """A copy of `views` where the first resource matching `match` has its props changed by `change` (in place on a
    deep copy) and `options` (protect, parent...) replaced. Returns (views, the changed resource)."""
    index = next(i for i, r in enumerate(views) if match(r))
    props = copy.deepcopy(dict(views[index].props))
    change(props)
    changed = replace(views[index], props=props, **options)
    return [*views[:index], changed, *views[index + 1 :]], changed


def caught(policy: str, views: list[Any], urn: str) -> list[Any]:
    """The policy's findings against `urn`; fails unless there is one, rendered with its URN."""
    found = [f for f in findings(policy, views) if f.urn == urn]
    assert found, f"{policy} missed the broken resource {urn}; it found: {findings(policy, views)}"
    violations = checks.check_resources(views[0].stack, views, {policy})
    assert any(v.urn == urn and urn in str(v) for v in violations), violations
    return found


def k8s(kind: str, name: str, namespace: str | None = None) -> Callable[[Any], bool]:
    def match(r: Any) -> bool:
        meta = r.props.get("metadata", {})
        return r.kind == kind and meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace)

    return match


def chart(name: str) -> Callable[[Any], bool]:
    return lambda r: r.is_helm and P.chart_name(r) == name


def azure(kind: str) -> Callable[[Any], bool]:
    return lambda r: r.azure == kind


def pod(props: dict) -> dict:
    spec = props["spec"]
    return spec["template"]["spec"]


# --- every committed stack passes every mandatory policy ---------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_pass_every_mandatory_policy(stack: str) -> None:
    views = resources(stack)
    mandatory = [v for v in checks.check_resources(stack, views) if v.mandatory]
    assert not mandatory, "\n".join(str(v) for v in mandatory)


def test_the_pack_has_thirteen_mandatory_and_five_advisory_policies() -> None:
    levels = [p.enforcement for p in P.POLICIES]
    assert (levels.count(P.MANDATORY), levels.count(P.ADVISORY)) == (13, 5)
    assert len(BY_NAME) == len(P.POLICIES), "policy names must be unique"


# --- mandatory --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "match",
    [
        azure("dns:Zone"),
        azure("network:PublicIPAddress"),
        azure("storage:StorageAccount"),
        azure("storage:BlobContainer"),
    ],
    ids=["zone", "public-ip", "storage-account", "blob-container"],
)
def test_unprotected_azure_state_is_caught(match: Callable[[Any], bool]) -> None:
    views, changed = broken(resources("staging"), match, lambda p: None, protect=False)
    caught("stateful-resources-protected", views, changed.urn)


def test_a_resource_group_holding_state_must_be_protected() -> None:
    views = resources("staging")
    ip = next(r for r in views if r.azure == "network:PublicIPAddress")
    group_urn = next(urn for urn in ip.dependencies if "ResourceGroup" in urn)
    views, group = broken(views, lambda r: r.urn == group_urn, lambda p: None, protect=False)
    (finding,) = caught("stateful-resources-protected", views, group.urn)
    assert "PublicIPAddress" in finding.message


@pytest.mark.parametrize("match", [k8s("StatefulSet", "etcd"), chart("nats"), chart("cockroachdb")])
def test_unprotected_cloud_datastores_are_caught(match: Callable[[Any], bool]) -> None:
    views, changed = broken(resources("platform"), match, lambda p: None, protect=False)
    caught("stateful-resources-protected", views, changed.urn)


def test_kind_datastores_need_no_protection() -> None:
    views = resources("local")
    assert not any(r.protect for r in views if P.is_volume_store(r)), "local stores are expected unprotected"
    assert not findings("stateful-resources-protected", views)


@pytest.mark.parametrize(
    ("match", "change"),
    [
        (k8s("StatefulSet", "etcd"), lambda p: p["spec"].update(replicas=1.0)),
        (k8s("StatefulSet", "etcd"), lambda p: pod(p).pop("topologySpreadConstraints")),
        (chart("nats"), lambda p: p["values"]["config"]["cluster"].update(replicas=1.0)),
        (chart("nats"), lambda p: p["values"]["config"]["cluster"].update(enabled=False)),
        (chart("nats"), lambda p: p["values"]["podTemplate"]["topologySpreadConstraints"].pop(P.ZONE_KEY)),
        (chart("nats"), lambda p: p["values"]["podDisruptionBudget"].update(enabled=False)),
        (chart("cockroachdb"), lambda p: p["values"]["statefulset"].update(replicas=2.0)),
        (
            chart("cockroachdb"),
            lambda p: p["values"]["statefulset"]["topologySpreadConstraints"].update(topologyKey="x"),
        ),
        (chart("cockroachdb"), lambda p: p["values"]["statefulset"]["budget"].update(maxUnavailable=2.0)),
    ],
    ids=[
        "etcd-1-replica",
        "etcd-no-spread",
        "nats-1-replica",
        "nats-unclustered",
        "nats-no-zone-spread",
        "nats-no-pdb",
        "cockroach-2-replicas",
        "cockroach-no-zone-spread",
        "cockroach-budget-breaks-quorum",
    ],
)
def test_weak_cloud_datastores_are_caught(match: Callable[[Any], bool], change: Callable[[dict], Any]) -> None:
    views, changed = broken(resources("staging"), match, change)
    caught("cloud-datastore-quorum", views, changed.urn)


def test_a_statefulset_without_a_budget_is_caught() -> None:
    views = [r for r in resources("staging") if not k8s("PodDisruptionBudget", "etcd", "etcd")(r)]
    etcd = next(r for r in views if k8s("StatefulSet", "etcd")(r))
    (finding,) = caught("cloud-datastore-quorum", views, etcd.urn)
    assert "PodDisruptionBudget" in finding.message


def test_single_member_stores_are_fine_in_kind() -> None:
    assert not findings("cloud-datastore-quorum", resources("local"))


def test_an_edge_certificate_from_the_internal_ca_is_caught() -> None:
    views, _ = broken(
        resources("staging"),
        k8s("Certificate", "edge-api"),
        lambda p: p["spec"]["issuerRef"].update(name="internal-ca"),
    )
    gateway = next(r for r in views if k8s("Gateway", "edge-api")(r))
    found = caught("public-tls-acme", views, gateway.urn)
    assert all("internal-ca" in f.message for f in found)


def test_an_https_listener_whose_secret_no_certificate_writes_is_caught() -> None:
    views, gateway = broken(
        resources("platform"),
        k8s("Gateway", "edge-web"),
        lambda p: p["spec"]["listeners"][0]["tls"]["certificateRefs"][0].update(name="hand-made-tls"),
    )
    (finding,) = caught("public-tls-acme", views, gateway.urn)
    assert "hand-made-tls" in finding.message


def test_a_plain_http_listener_that_serves_instead_of_redirecting_is_caught() -> None:
    def serve(props: dict) -> None:
        props["spec"]["rules"] = [{"backendRefs": [{"kind": "Service", "name": "micro-web", "port": 80.0}]}]

    views, _ = broken(resources("staging"), k8s("HTTPRoute", "edge-web-redirect"), serve)
    gateway = next(r for r in views if k8s("Gateway", "edge-web")(r))
    (finding,) = caught("public-tls-acme", views, gateway.urn)
    assert "http-web" in finding.message


def test_the_local_stack_needs_no_acme() -> None:
    assert not findings("public-tls-acme", resources("local"))


def test_production_edge_certificates_from_lets_encrypt_staging_are_caught() -> None:
    views, certificate = broken(
        resources("platform"),
        k8s("Certificate", "edge-proxy"),
        lambda p: p["spec"]["issuerRef"].update(name="letsencrypt-staging"),
    )
    (finding,) = caught("production-acme", views, certificate.urn)
    assert "letsencrypt-staging" in finding.message
    assert not findings("production-acme", resources("staging")), "staging may use Let's Encrypt staging"


def test_production_aks_with_local_accounts_is_caught() -> None:
    views, cluster = broken(
        resources("platform"),
        azure("containerservice:ManagedCluster"),
        lambda p: p.update(disableLocalAccounts=False),
    )
    caught("production-aks-no-local-accounts", views, cluster.urn)
    staging, _ = broken(
        resources("staging"),
        azure("containerservice:ManagedCluster"),
        lambda p: p.update(disableLocalAccounts=False),
    )
    assert not findings("production-aks-no-local-accounts", staging), "the rule is production's"


@pytest.mark.parametrize(
    ("match", "change"),
    [
        (k8s("Deployment", "micro-api"), lambda p: pod(p)["containers"][0]["resources"].pop("limits")),
        (k8s("StatefulSet", "etcd"), lambda p: pod(p)["containers"][0]["resources"]["requests"].pop("memory")),
        (chart("cert-manager"), lambda p: p["values"]["webhook"]["resources"].pop("requests")),
    ],
    ids=["deployment-no-limits", "statefulset-no-memory-request", "chart-values-no-requests"],
)
def test_unsized_containers_are_caught(match: Callable[[Any], bool], change: Callable[[dict], Any]) -> None:
    views, changed = broken(resources("staging"), match, change)
    caught("container-resources", views, changed.urn)


def _root_by_default(props: dict) -> None:
    pod(props)["securityContext"].pop("runAsNonRoot")
    pod(props)["containers"][0]["securityContext"].pop("runAsNonRoot")


@pytest.mark.parametrize(
    ("match", "change", "words"),
    [
        (k8s("Deployment", "micro-auth"), _root_by_default, "runAsNonRoot"),
        (
            k8s("Deployment", "micro-auth"),
            lambda p: pod(p)["containers"][0]["securityContext"].update(privileged=True),
            "privileged",
        ),
        (k8s("StatefulSet", "etcd"), lambda p: pod(p)["securityContext"].update(runAsUser=0.0), "uid"),
        (
            k8s("Job", "cockroach-backup-schedule"),
            lambda p: pod(p)["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
            "escalation",
        ),
        (k8s("Deployment", "micro-web"), lambda p: pod(p).update(hostNetwork=True), "hostNetwork"),
        (
            chart("cert-manager"),
            lambda p: p["values"]["containerSecurityContext"].update(privileged=True),
            "privileged",
        ),
        (
            chart("nats"),
            lambda p: p["values"]["podTemplate"]["merge"]["spec"]["securityContext"].update(runAsUser=0.0),
            "uid 0",
        ),
    ],
    ids=[
        "no-run-as-non-root",
        "privileged",
        "pod-uid-0",
        "escalation",
        "host-network",
        "chart-privileged",
        "chart-root",
    ],
)
def test_privileged_or_root_containers_are_caught(
    match: Callable[[Any], bool], change: Callable[[dict], Any], words: str
) -> None:
    views, changed = broken(resources("platform"), match, change)
    found = caught("container-security", views, changed.urn)
    assert any(words in f.message for f in found), found


@pytest.mark.parametrize(
    ("match", "change"),
    [
        (
            k8s("Deployment", "micro-store"),
            lambda p: pod(p)["containers"][0].update(image="micro/micro:latest"),
        ),
        (k8s("StatefulSet", "etcd"), lambda p: pod(p)["containers"][0].update(image="gcr.io/etcd-development/etcd")),
        (
            k8s("Job", "cockroach-backup-schedule"),
            lambda p: pod(p)["containers"][0].update(image="localhost:5000/cockroach"),
        ),
        (
            chart("cert-manager"),
            lambda p: p["values"].update(image={"repository": "quay.io/jetstack/cm", "tag": "latest"}),
        ),
        (chart("nats"), lambda p: p["values"]["container"].update(image="nats")),
    ],
    ids=["latest", "untagged", "registry-port-untagged", "chart-values-latest", "chart-values-untagged"],
)
def test_unpinned_images_are_caught(match: Callable[[Any], bool], change: Callable[[dict], Any]) -> None:
    views, changed = broken(resources("staging"), match, change)
    caught("images-pinned", views, changed.urn)


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("micro/micro:v2.9.3", True),
        ("gcr.io/etcd-development/etcd@sha256:" + "a" * 64, True),
        ("registry:5000/etcd:v3.6.4", True),
        ("registry:5000/etcd", False),
        ("etcd:latest", False),
        ("etcd:", False),
        ("etcd", False),
    ],
)
def test_what_counts_as_pinned(image: str, pinned: bool) -> None:
    assert P.is_pinned(image) is pinned


def test_an_interactive_kubeconfig_is_caught_and_the_programs_token_kubeconfig_is_not() -> None:
    graph = stack_graph("staging")
    (provider,) = graph.of_type("pulumi:providers:kubernetes")
    unmasked = replace(checks.view(provider), props=provider.raw_inputs())
    assert list(P.no_interactive_credential(unmasked)) == [], "the program's kubeconfig is a token"
    views = [unmasked if r.urn == provider.urn else r for r in resources("staging")]
    aks = computed.kubeconfig("aks-micro-staging-uksouth")  # what listManagedClusterUserCredentials returns
    broken_views, changed = broken(views, lambda r: r.urn == provider.urn, lambda p: p.update(kubeconfig=aks))
    (finding,) = caught("no-interactive-credential", broken_views, changed.urn)
    assert "exec" in finding.message and "devicecode" in finding.message


@pytest.mark.parametrize("name", ["platform-uksouth-aks-cluster", "platform-uksouth-aks-control-plane"])
def test_an_unprotected_cluster_or_cluster_identity_is_caught(name: str) -> None:
    views, changed = broken(resources("platform"), lambda r: r.name == name, lambda p: None, protect=False)
    caught("cluster-protected", views, changed.urn)


def test_a_zone_without_a_lock_is_caught() -> None:
    views = resources("platform")
    zone = next(r for r in views if r.azure == "dns:Zone")
    unlocked = [
        r for r in views if not (r.azure == "authorization:ManagementLockByScope" and zone.urn in r.dependencies)
    ]
    assert len(unlocked) == len(views) - 1
    caught("dns-zones-locked", unlocked, zone.urn)


OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


@pytest.mark.parametrize(
    ("match", "change", "options"),
    [
        # A built-in role wider than any job: Owner instead of Network Contributor.
        (
            lambda r: r.name == "platform-uksouth-edge-cluster",
            lambda p: p.update(roleDefinitionId=f"/x/roleDefinitions/{OWNER}"),
            {},
        ),
        # Cluster Admin on the cluster's resource group instead of the cluster.
        (lambda r: r.name == "platform-uksouth-aks-operators-admin", lambda p: None, {"dependencies": ()}),
        # The cert-manager role widened to every DNS action (DNS Zone Contributor's).
        (
            lambda r: r.name == "platform-uksouth-acme-dns01-role",
            lambda p: p["permissions"][0].update(actions=["Microsoft.Network/dnsZones/*"]),
            {},
        ),
        # The backup writer widened to every blob data action, delete included.
        (
            lambda r: r.name == "platform-uksouth-backup-writer-role",
            lambda p: p["permissions"][0].update(dataActions=["Microsoft.Storage/storageAccounts/*"]),
            {},
        ),
    ],
    ids=["owner", "admin-off-cluster", "dns-wildcard", "blob-wildcard"],
)
def test_a_role_wider_than_its_job_is_caught(
    match: Callable[[Any], bool], change: Callable[[dict], Any], options: dict
) -> None:
    views, changed = broken(resources("platform"), match, change, **options)
    caught("least-privilege-roles", views, changed.urn)


def test_network_contributor_on_a_group_that_holds_more_than_ips_is_caught() -> None:
    views = resources("platform")
    edge = next(r for r in views if r.name == "platform-uksouth-edge-rg")
    grant = next(r for r in views if r.name == "platform-uksouth-edge-cluster")
    moved, _ = broken(
        views,
        azure("storage:StorageAccount"),
        lambda p: p.update(resourceGroupName=edge.props["resourceGroupName"]),
    )
    (finding,) = caught("least-privilege-roles", moved, grant.urn)
    assert "storage:StorageAccount" in finding.message


def test_the_pack_allows_exactly_the_built_in_roles_the_program_grants() -> None:
    from components.azure.roles import BUILT_IN_ALLOWED

    assert set(P.ALLOWED_BUILT_IN_ROLES) == set(BUILT_IN_ALLOWED)


def test_a_zone_without_caa_is_caught() -> None:
    views = resources("platform")
    zone = next(r for r in views if r.azure == "dns:Zone")
    without = [r for r in views if not (r.azure == "dns:RecordSet" and r.parent == zone.urn and "CAA" in str(r.props))]
    assert len(without) == len(views) - 1, "expected exactly one CAA record set under the zone"
    (finding,) = caught("dns-zone-caa", without, zone.urn)
    assert zone.props["zoneName"] in finding.message


def test_a_caa_record_set_without_an_issue_tag_is_caught() -> None:
    views = resources("staging")
    zone = next(r for r in views if r.azure == "dns:Zone")
    views, _ = broken(
        views,
        lambda r: r.azure == "dns:RecordSet" and r.parent == zone.urn,
        lambda p: p.update(caaRecords=[c for c in p["caaRecords"] if c["tag"] != "issue"]),
    )
    caught("dns-zone-caa", views, zone.urn)


# --- advisory ------------------------------------------------------------------------------------------


def test_pull_policy_always_is_advised_against() -> None:
    views, changed = broken(
        resources("parity"),
        k8s("Deployment", "micro-api"),
        lambda p: pod(p)["containers"][0].update(imagePullPolicy="Always"),
    )
    caught("image-pull-policy", views, changed.urn)


def test_a_missing_liveness_probe_is_advised() -> None:
    views, changed = broken(
        resources("parity"), k8s("StatefulSet", "etcd"), lambda p: pod(p)["containers"][0].pop("livenessProbe")
    )
    caught("liveness-probes", views, changed.urn)


def test_a_budget_over_a_single_replica_is_advised() -> None:
    views, _ = broken(resources("staging"), k8s("Deployment", "micro-api"), lambda p: p["spec"].update(replicas=1.0))
    budget = next(r for r in views if k8s("PodDisruptionBudget", "micro-api")(r))
    caught("single-replica-pdb", views, budget.urn)


def test_namespaces_without_network_policies_are_advised() -> None:
    views = resources("parity")
    flagged = {f.urn for f in findings("namespace-network-policy", views)}
    etcd_namespace = next(r for r in views if k8s("Namespace", "etcd")(r))
    assert etcd_namespace.urn not in flagged
    without = [r for r in views if not (r.kind == "NetworkPolicy" and r.namespace == "etcd")]
    caught("namespace-network-policy", without, etcd_namespace.urn)


def test_a_chart_without_a_version_is_advised() -> None:
    views, changed = broken(resources("staging"), chart("cockroachdb"), lambda p: p.pop("version"))
    caught("helm-chart-version", views, changed.urn)


def test_advisories_never_fail_and_mandatory_ones_do() -> None:
    views, _ = broken(
        resources("parity"), k8s("StatefulSet", "etcd"), lambda p: pod(p)["containers"][0].pop("livenessProbe")
    )
    found = checks.check_resources("parity", views)
    assert found and not any(v.mandatory for v in found)


# --- unknown values are skipped, not failed -----------------------------------------------------------


def test_values_a_preview_cannot_know_are_not_violations() -> None:
    views, _ = broken(resources("platform"), k8s("StatefulSet", "etcd"), lambda p: p["spec"].update(replicas=P.UNKNOWN))
    views, _ = broken(views, k8s("Certificate", "edge-api"), lambda p: p["spec"]["issuerRef"].update(name=P.UNKNOWN))
    mandatory = [v for v in checks.check_resources("platform", views) if v.mandatory]
    assert not mandatory, mandatory


# --- the CLI ------------------------------------------------------------------------------------------


def test_infra_check_passes_the_local_stack() -> None:
    result = CliRunner().invoke(app, ["check", "--stack", "local", "--json"])
    assert result.exit_code == 0, result.output
    assert '"passed": true' in result.stdout


def test_infra_check_exits_1_on_a_mandatory_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    views, zone = broken(resources("staging"), azure("dns:Zone"), lambda p: None, protect=False)
    monkeypatch.setattr(checks, "planned", lambda names: [stack_graph("staging")])
    monkeypatch.setattr(checks, "check_graph", lambda graph: checks.check_resources("staging", views))
    table = CliRunner().invoke(app, ["check", "--stack", "staging"])
    assert table.exit_code == 1, table.output
    assert "stateful-resources-protected" in table.stdout and "mandatory" in table.stdout
    as_json = CliRunner().invoke(app, ["check", "--stack", "staging", "--json"])
    assert as_json.exit_code == 1, as_json.output
    document = json.loads(as_json.stdout)
    assert document["passed"] is False
    (violation,) = [v for v in document["stacks"]["staging"]["violations"] if v["enforcement"] == "mandatory"]
    assert (violation["policy"], violation["urn"]) == ("stateful-resources-protected", zone.urn)


def test_infra_check_exits_2_on_bad_input() -> None:
    result = CliRunner().invoke(app, ["check", "--stack", "no-such-stack"])
    assert result.exit_code == 2


# --- the real engine: CrossGuard runs the same pack ------------------------------------------------------

BREAK_LIMITS = '''
"""Test-only: drop the micro services' memory limit, to show a mandatory policy stopping a real preview."""
try:
    import components.kubernetes.micro_server as micro_server
    import components.kubernetes.micro_service as micro_service
except ImportError:  # the policy pack's own interpreter has no components
    pass
else:
    _container = micro_service.micro_container

    def _without_memory_limit(*args, **kwargs):
        container = _container(*args, **kwargs)
        container["resources"] = {**container["resources"], "limits": {"cpu": "1"}}
        return container

    micro_service.micro_container = micro_server.micro_container = _without_memory_limit
'''


@pytest.mark.engine
def test_crossguard_runs_the_pack_in_a_real_preview(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """`pulumi preview --policy-pack policy/analyzer` on the local stack (render mode): passes as committed, and
    fails on a mandatory violation once a component is broken (through a sitecustomize, not the sources)."""
    from tests.engine_support import make_workspace, render_mode

    venv = subprocess.run([str(ROOT / "scripts" / "ensure-tool-venvs"), "policy"], capture_output=True, check=False)
    if venv.returncode != 0:
        pytest.skip(f"no policy venv: scripts/ensure-tool-venvs policy failed: {venv.stderr.decode()[-500:]}")
    workspace = make_workspace(tmp_path, request.getfixturevalue("engine_bin"))
    render_mode(workspace.root / "stacks" / "Pulumi.local.yaml", tmp_path / "rendered")
    workspace.pulumi("stack", "init", "local")

    def preview(**env: str) -> subprocess.CompletedProcess[str]:
        command = ["pulumi", "--non-interactive", "preview", "--stack", "local"]
        return subprocess.run(
            [*command, "--policy-pack", str(ROOT / "policy" / "analyzer")],
            cwd=workspace.root,
            env={**workspace.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    good = preview()
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    assert "micro-infra@v0.1.0" in good.stdout and "[advisory]  namespace-network-policy" in good.stdout
    assert "[mandatory]" not in good.stdout
    breaker = tmp_path / "break"
    breaker.mkdir()
    (breaker / "sitecustomize.py").write_text(BREAK_LIMITS)
    bad = preview(PYTHONPATH=str(breaker))
    assert bad.returncode != 0, bad.stdout[-3000:]
    assert "[mandatory]  container-resources" in bad.stdout and "local-micro-deployment" in bad.stdout
