"""Whole stacks, as the program builds them from the committed files: the layers wired together."""

from __future__ import annotations

import json

import pytest

from components.kubernetes.contracts import CERT_MANAGER_SA, COCKROACH_SA
from infra.plan.engine import Graph, Registration

from .conftest import ROOT, k8s, stack_graph


def _cloud(stack: str) -> Graph:
    return stack_graph(stack)


@pytest.mark.parametrize("stack", ["local", "parity", "staging", "platform"])
def test_every_resource_hangs_off_a_component(stack: str) -> None:
    graph = stack_graph(stack)
    stack_urn = graph.registrations[0].urn
    top = [r for r in graph.registrations if r.parent == stack_urn]
    allowed = {"pulumi:providers:kubernetes", "pulumi:pulumi:StackReference"}
    for r in top:
        assert r.type.startswith("micro-infra:") or r.type in allowed, f"{r.urn} is not inside a component"


@pytest.mark.parametrize("stack", ["local", "parity", "staging", "platform"])
def test_component_type_tokens(stack: str) -> None:
    tokens = {r.type for r in stack_graph(stack).registrations if not r.custom and r.type != "pulumi:pulumi:Stack"}
    tokens -= {"kubernetes:helm.sh/v4:Chart"}
    for token in tokens:
        package, module, name = token.split(":")
        where = ROOT / "components" / module  # the token's module is the components package or module
        assert package == "micro-infra" and (where.is_dir() or where.with_suffix(".py").is_file()), token
        assert name[0].isupper(), token


def test_local_creates_no_azure_resources(local: Graph) -> None:
    azure = [r.urn for r in local.registrations if r.type.startswith("azure-native:")]
    assert azure == []
    assert not [r for r in local.registrations if "letsencrypt" in json.dumps(r.inputs)]
    (provider,) = local.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "kind-micro"


def _acme_issuer(graph: Graph, name: str) -> Registration:
    (issuer,) = k8s(graph, "cert-manager.io/v1:ClusterIssuer", name=name)
    return issuer


@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_issuer_zone_and_identity_match_the_azure_resources(stack: str) -> None:
    graph = _cloud(stack)
    identity = graph.one("azure-native:managedidentity:UserAssignedIdentity", f"{stack}-uksouth-cert-manager-identity")
    zones = {z.inputs["zoneName"]: z for z in graph.of_type("azure-native:dns:Zone")}
    group = graph.one("azure-native:resources:ResourceGroup", f"{stack}-dns").inputs["resourceGroupName"]
    for name in ("letsencrypt-staging", "letsencrypt-prod"):
        solvers = _acme_issuer(graph, name).inputs["spec"]["acme"]["solvers"]
        assert sorted(s["dns01"]["azureDNS"]["hostedZoneName"] for s in solvers) == sorted(zones)
        for solver in solvers:
            azure = solver["dns01"]["azureDNS"]
            assert azure["managedIdentity"]["clientID"] == f"client-id-of-{identity.name}"
            assert azure["resourceGroupName"] == group
            assert azure["subscriptionID"] == "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_federated_subjects_match_the_service_accounts_the_charts_run_as(stack: str) -> None:
    graph = _cloud(stack)
    subjects = {r.inputs["subject"] for r in graph.of_type("azure-native:managedidentity:FederatedIdentityCredential")}
    assert subjects == {CERT_MANAGER_SA.subject, COCKROACH_SA.subject}
    releases = {r.inputs["name"]: r.inputs for r in graph.of_type("kubernetes:helm.sh/v3:Release")}
    cert_manager = releases["cert-manager"]
    assert cert_manager["namespace"] == CERT_MANAGER_SA.namespace
    sa = cert_manager["values"]["serviceAccount"]
    assert sa.get("name", "cert-manager") == CERT_MANAGER_SA.name
    assert (
        sa["annotations"]["azure.workload.identity/client-id"] == f"client-id-of-{stack}-uksouth-cert-manager-identity"
    )
    cockroach = next(r for r in releases.values() if r["namespace"] == COCKROACH_SA.namespace)
    account = cockroach["values"]["statefulset"]["serviceAccount"]
    assert account["name"] == COCKROACH_SA.name
    client_id = account["annotations"]["azure.workload.identity/client-id"]
    assert client_id == f"client-id-of-{stack}-uksouth-cockroach-identity"


@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_gateways_use_the_static_ips(stack: str) -> None:
    graph = _cloud(stack)
    ips = {r.inputs["publicIpAddressName"] for r in graph.of_type("azure-native:network:PublicIPAddress")}
    (group,) = {r.inputs["resourceGroupName"] for r in graph.of_type("azure-native:network:PublicIPAddress")}
    proxies = k8s(graph, "gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    annotated = set()
    for proxy in proxies:
        service = proxy.inputs["spec"]["provider"]["kubernetes"]["envoyService"]
        annotated.add(service["annotations"]["service.beta.kubernetes.io/azure-pip-name"])
        assert service["annotations"]["service.beta.kubernetes.io/azure-load-balancer-resource-group"] == group
    assert annotated == ips


def test_platform_signs_public_certificates_with_letsencrypt_production(platform: Graph) -> None:
    edge_certs = [
        c
        for c in k8s(platform, "cert-manager.io/v1:Certificate")
        if c.inputs["metadata"]["namespace"] == "envoy-gateway-system"
    ]
    assert edge_certs
    for cert in edge_certs:
        assert cert.inputs["spec"]["issuerRef"]["name"] == "letsencrypt-prod", cert.urn
    hosts = {h for c in edge_certs for h in c.inputs["spec"]["dnsNames"]}
    assert hosts == {"api.m3o.com", "web.m3o.com", "proxy.m3o.com", "*.m3o.app"}


def test_local_edge_certificates_come_from_the_internal_ca(local: Graph) -> None:
    edge_certs = [
        c
        for c in k8s(local, "cert-manager.io/v1:Certificate")
        if c.inputs["metadata"]["namespace"] == "envoy-gateway-system"
    ]
    assert edge_certs
    assert {c.inputs["spec"]["issuerRef"]["name"] for c in edge_certs} == {"internal-ca"}


@pytest.mark.parametrize("stack", ["local", "parity", "staging", "platform"])
def test_release_pins_reach_every_micro_container(stack: str) -> None:
    from infra.config.loader import load_stack

    graph = stack_graph(stack)
    for r in graph.registrations:
        assert ":latest" not in json.dumps(r.inputs).lower(), r.urn
    pinned = load_stack(stack).environment.release.micro.ref
    assert pinned.startswith("micro/micro:v2."), f"{stack} does not run micro v2: {pinned}"
    micro = [
        container
        for deployment in k8s(graph, "apps/v1:Deployment", namespace="server")
        for container in deployment.inputs["spec"]["template"]["spec"]["containers"]
        if container["name"] == "micro"
    ]
    assert micro and {c["image"] for c in micro} == {pinned}


def test_region_stack_plans_only_regional_records(tmp_path: pytest.TempPathFactory) -> None:
    """A second region joins the zones through the primary stack instead of creating them."""
    import shutil
    from pathlib import Path

    import yaml

    from infra.config.loader import load_stack
    from infra.plan.engine import run
    from infra.program import program_for

    from .conftest import ROOT

    root = Path(str(tmp_path))
    shutil.copytree(ROOT / "environments", root / "environments")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    env = yaml.safe_load((root / "environments" / "staging.yaml").read_text())
    env["regions"].append({**env["regions"][0], "name": "westeurope"})
    yaml.Dumper.ignore_aliases = lambda *_: True  # type: ignore[method-assign]
    (root / "environments" / "staging.yaml").write_text(yaml.dump(env, Dumper=yaml.Dumper))
    (root / "stacks" / "Pulumi.staging-westeurope.yaml").write_text(
        "config:\n  micro-infra:environment: staging\n  micro-infra:regions: [westeurope]\n"
        "  micro-infra:zonesStack: staging\n"
    )
    stack = load_stack("staging-westeurope", root)
    graph = run(program_for(stack), stack.name, stack.config, traceable=True)
    assert graph.of_type("azure-native:dns:Zone") == []
    (ref,) = graph.of_type("pulumi:pulumi:StackReference")
    assert ref.raw_inputs()["name"] == "organization/micro-infra/staging"
    names = sorted(r.inputs["relativeRecordSetName"] for r in graph.of_type("azure-native:dns:RecordSet"))
    assert names == ["api.westeurope", "proxy.westeurope", "web.westeurope"]
    assert (
        graph.one("azure-native:containerservice:ManagedCluster", "staging-westeurope-aks-cluster").inputs["location"]
        == "westeurope"
    )
