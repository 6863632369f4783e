"""TLS: cert-manager, the internal CA and the Let's Encrypt issuers, each built alone under traceable mocks.

CloudBindings carry strings that name where they came from, so a solver that points at the wrong zone,
resource group or identity fails by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi_kubernetes.apiextensions import CustomResource

from components.kubernetes.acme_issuers import AcmeIssuers, AcmeIssuersArgs
from components.kubernetes.cert_manager import CertManager, CertManagerArgs
from components.kubernetes.contracts import CERT_MANAGER_SA, CloudBindings
from components.kubernetes.internal_ca import InternalCa, InternalCaArgs
from infra.config.loader import load_environment
from infra.config.model import AcmeServer, Environment
from infra.plan.engine import Graph, Registration
from tests.conftest import ROOT, component_graph, k8s
from tests.k8s_schema import validate

RELEASE = "kubernetes:helm.sh/v3:Release"
STAGING_URL = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION_URL = "https://acme-v02.api.letsencrypt.org/directory"
CLIENT_ID = "client-id-of-cert-manager-under-test"


def environment(name: str) -> Environment:
    return load_environment(ROOT / Path(f"environments/{name}.yaml"))


def bindings(env: Environment) -> CloudBindings:
    """Cloud bindings whose every value names itself, one resource group per zone of `env`."""
    return CloudBindings(
        subscription_id="subscription-under-test",
        tenant_id="tenant-under-test",
        resource_group="rg-of-region-under-test",
        dns_zones={zone: f"rg-of-zone-{zone}" for zone in env.dns.zones},
        cert_manager_client_id=CLIENT_ID,
        public_ip_names={role: f"pip-of-{role}" for role in ("api", "web", "proxy")},
        backup_account="account-under-test",
        backup_container="container-under-test",
        cockroach_client_id="client-id-of-cockroach-under-test",
    )


def tls_graph(env_name: str, enabled: bool = True) -> Graph:
    """CertManager, InternalCa and (cloud only) AcmeIssuers wired as platform.py wires them."""
    env = environment(env_name)
    cloud = bindings(env) if env.is_cloud else None

    def build() -> None:
        client_id = cloud.cert_manager_client_id if cloud else None
        manager = CertManager(
            "tls",
            CertManagerArgs(
                version=env.release.charts.cert_manager, workload_identity_client_id=client_id, enabled=enabled
            ),
        )
        ca = InternalCa("ca", InternalCaArgs(crds=manager.crds))
        # A consumer of the CA issuer, as the datastores are: it must get a data edge to the ClusterIssuer.
        CustomResource(
            "consumer",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": "consumer", "namespace": "server"},
            spec={"issuerRef": {"name": ca.issuer_name, "kind": "ClusterIssuer"}},
        )
        pulumi.export("ca_issuer", ca.issuer_name)
        if cloud is not None and env.acme is not None:
            acme = AcmeIssuers("acme", AcmeIssuersArgs(email=env.acme.email, cloud=cloud, crds=manager.crds))
            pulumi.export("acme_issuers", {server.value: name for server, name in acme.issuer_names.items()})
            pulumi.export("public_issuer", acme.issuer_names[env.acme.server])

    return component_graph(build)


@pytest.fixture(scope="module", params=["local", "parity", "staging", "platform"])
def any_env(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    return request.param, tls_graph(request.param)


@pytest.fixture(scope="module", params=["staging", "platform"])
def cloud_env(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    return request.param, tls_graph(request.param)


def one(graph: Graph, kind: str, name: str, namespace: str | None = None) -> Registration:
    found = k8s(graph, kind, name=name, namespace=namespace)
    assert len(found) == 1, f"expected one {kind} {name}, found {[r.urn for r in found]}"
    return found[0]


def release(graph: Graph) -> Registration:
    found = graph.of_type(RELEASE)
    assert len(found) == 1, f"expected one cert-manager Release, found {[r.urn for r in found]}"
    return found[0]


def values(graph: Graph) -> dict[str, Any]:
    return release(graph).inputs["values"]


# --- cert-manager ---------------------------------------------------------------------------------


def test_cert_manager_release_is_the_pinned_upstream_chart_with_kept_crds(any_env: tuple[str, Graph]) -> None:
    name, graph = any_env
    chart = release(graph)
    assert chart.inputs["chart"] == "cert-manager", chart.urn
    assert chart.inputs["repositoryOpts"] == {"repo": "https://charts.jetstack.io"}, chart.urn
    assert chart.inputs["version"] == environment(name).release.charts.cert_manager, chart.urn
    assert chart.inputs["namespace"] == CERT_MANAGER_SA.namespace, chart.urn
    assert values(graph)["crds"] == {"enabled": True, "keep": True}, chart.urn


def test_cert_manager_uses_workload_identity_in_cloud(cloud_env: tuple[str, Graph]) -> None:
    _, graph = cloud_env
    v, urn = values(graph), release(graph).urn
    assert v["podLabels"] == {"azure.workload.identity/use": "true"}, urn
    account = v["serviceAccount"]
    assert account["labels"] == {"azure.workload.identity/use": "true"}, urn
    assert account["annotations"] == {"azure.workload.identity/client-id": CLIENT_ID}, urn
    # Only the controller talks to Azure: the webhook and cainjector get no token.
    assert "podLabels" not in v["webhook"] and "podLabels" not in v["cainjector"], urn


def test_cert_manager_has_no_azure_identity_in_local() -> None:
    graph = tls_graph("local")
    v, urn = values(graph), release(graph).urn
    assert "podLabels" not in v, f"{urn}: local cert-manager has no Azure identity to use"
    assert "labels" not in v["serviceAccount"] and "annotations" not in v["serviceAccount"], urn


def test_cert_manager_service_account_is_the_federated_subject(any_env: tuple[str, Graph]) -> None:
    # The Azure federated credential's subject is built from CERT_MANAGER_SA; the chart must create exactly it.
    _, graph = any_env
    chart = release(graph)
    account = chart.inputs["values"]["serviceAccount"]
    assert account["create"] is True, chart.urn
    subject = f"system:serviceaccount:{chart.inputs['namespace']}:{account['name']}"
    assert subject == CERT_MANAGER_SA.subject, f"{chart.urn}: ServiceAccount {subject} is not {CERT_MANAGER_SA.subject}"


def test_cert_manager_checks_dns01_with_public_resolvers_only(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    v, urn = values(graph), release(graph).urn
    assert v["dns01RecursiveNameservers"] == "1.1.1.1:53,8.8.8.8:53", urn
    assert v["dns01RecursiveNameserversOnly"] is True, urn
    assert v["global"]["leaderElection"]["namespace"] == CERT_MANAGER_SA.namespace, urn


def test_cert_manager_is_ha_and_restricted_in_every_part(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    v, urn = values(graph), release(graph).urn
    for part, section in (("controller", v), ("webhook", v["webhook"]), ("cainjector", v["cainjector"])):
        assert section["replicaCount"] == 2, f"{urn}: {part} is not HA"
        assert section["podDisruptionBudget"]["enabled"] is True, f"{urn}: {part} has no PDB"
        spread = section["topologySpreadConstraints"][0]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone", f"{urn}: {part} is not spread over zones"
        assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == part, urn
    for part, section in (("controller", v), *((p, v[p]) for p in ("webhook", "cainjector", "startupapicheck"))):
        container = section["containerSecurityContext"]
        assert container["runAsNonRoot"] is True and container["runAsUser"] > 0, f"{urn}: {part} may run as root"
        assert container["readOnlyRootFilesystem"] is True, f"{urn}: {part} root filesystem is writable"
        assert container["allowPrivilegeEscalation"] is False, f"{urn}: {part} may escalate"
        assert container["capabilities"] == {"drop": ["ALL"]}, f"{urn}: {part} keeps capabilities"
        assert container["seccompProfile"] == {"type": "RuntimeDefault"}, f"{urn}: {part} has no seccomp profile"
        assert set(section["resources"]) == {"requests", "limits"}, f"{urn}: {part} lacks requests or limits"


def test_cert_manager_namespace_is_valid_and_restricted(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    namespace = one(graph, "core/v1:Namespace", CERT_MANAGER_SA.namespace)
    validate(namespace)
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", namespace.urn
    assert labels["app.kubernetes.io/part-of"] == "micro" and labels["app.kubernetes.io/managed-by"] == "pulumi"


@pytest.mark.parametrize("env_name", ["local", "platform"])
def test_disabled_cert_manager_registers_no_chart(env_name: str) -> None:
    graph = tls_graph(env_name, enabled=False)
    charts = [r.urn for r in graph.registrations if r.type.startswith("kubernetes:helm.sh/")]
    assert charts == [], f"enabled=False still registers {charts}"
    one(graph, "core/v1:Namespace", CERT_MANAGER_SA.namespace)
    # The issuers are still declared (offline render), with no edge to a chart that does not exist.
    issuer = one(graph, "cert-manager.io/v1:ClusterIssuer", "internal-ca")
    assert not any(RELEASE in d for d in issuer.dependencies), issuer.urn


# --- internal CA ----------------------------------------------------------------------------------


def test_internal_ca_chain_runs_selfsigned_to_ca_certificate_to_ca_issuer(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    bootstrap = one(graph, "cert-manager.io/v1:ClusterIssuer", "selfsigned-bootstrap")
    certificate = one(graph, "cert-manager.io/v1:Certificate", "micro-internal-ca", namespace=CERT_MANAGER_SA.namespace)
    issuer = one(graph, "cert-manager.io/v1:ClusterIssuer", "internal-ca")

    assert bootstrap.inputs["spec"] == {"selfSigned": {}}, bootstrap.urn
    spec = certificate.inputs["spec"]
    assert spec["issuerRef"] == {"name": "selfsigned-bootstrap", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert bootstrap.urn in certificate.dependencies, f"{certificate.urn} has no data edge to {bootstrap.urn}"
    assert spec["isCA"] is True, certificate.urn
    assert spec["secretName"] == "micro-internal-ca", certificate.urn
    assert spec["commonName"] == "micro internal CA" and spec["subject"] == {"organizations": ["m3o"]}
    assert (spec["duration"], spec["renewBefore"]) == ("87600h", "720h"), certificate.urn
    assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256, certificate.urn

    assert issuer.inputs["spec"] == {"ca": {"secretName": spec["secretName"]}}, issuer.urn
    assert certificate.urn in issuer.dependencies, f"{issuer.urn} has no data edge to {certificate.urn}"


def test_cert_manager_resources_wait_for_the_crds(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    chart = release(graph).urn
    for kind in ("ClusterIssuer", "Certificate"):
        for resource in k8s(graph, f"cert-manager.io/v1:{kind}"):
            if resource.name != "consumer":
                assert chart in resource.dependencies, f"{resource.urn} does not wait for {chart}"


def test_internal_ca_issuer_name_is_a_data_edge(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    issuer = one(graph, "cert-manager.io/v1:ClusterIssuer", "internal-ca")
    consumer = one(graph, "cert-manager.io/v1:Certificate", "consumer")
    assert graph.outputs["ca_issuer"] == "internal-ca"
    assert consumer.inputs["spec"]["issuerRef"]["name"] == "internal-ca", consumer.urn
    assert issuer.urn in consumer.dependencies, f"{consumer.urn} uses issuer_name without depending on {issuer.urn}"


# --- ACME -----------------------------------------------------------------------------------------


def test_acme_urls_and_account_keys(cloud_env: tuple[str, Graph]) -> None:
    name, graph = cloud_env
    env = environment(name)
    for issuer_name, url in (("letsencrypt-staging", STAGING_URL), ("letsencrypt-prod", PRODUCTION_URL)):
        issuer = one(graph, "cert-manager.io/v1:ClusterIssuer", issuer_name)
        acme = issuer.inputs["spec"]["acme"]
        assert acme["server"] == url, f"{issuer.urn} points at {acme['server']}"
        assert acme["privateKeySecretRef"] == {"name": f"{issuer_name}-account"}, issuer.urn
        assert env.acme is not None and acme["email"] == env.acme.email, issuer.urn


def test_acme_issuer_names_follow_the_environment_server(cloud_env: tuple[str, Graph]) -> None:
    name, graph = cloud_env
    env = environment(name)
    assert graph.outputs["acme_issuers"] == {"staging": "letsencrypt-staging", "production": "letsencrypt-prod"}
    assert env.acme is not None
    expected = {"staging": AcmeServer.staging, "platform": AcmeServer.production}[name].issuer
    assert graph.outputs["public_issuer"] == expected, f"{name} signs its public hosts with {expected}"


def test_acme_solvers_name_exactly_the_given_zones_groups_and_identity(cloud_env: tuple[str, Graph]) -> None:
    name, graph = cloud_env
    cloud = bindings(environment(name))
    for issuer_name in ("letsencrypt-staging", "letsencrypt-prod"):
        issuer = one(graph, "cert-manager.io/v1:ClusterIssuer", issuer_name)
        solvers = issuer.inputs["spec"]["acme"]["solvers"]
        zones = [s["selector"]["dnsZones"] for s in solvers]
        assert sorted(zones) == sorted([z] for z in cloud.dns_zones), f"{issuer.urn} solves {zones}"
        for solver in solvers:
            (zone,) = solver["selector"]["dnsZones"]
            assert solver["dns01"]["azureDNS"] == {
                "subscriptionID": cloud.subscription_id,
                "resourceGroupName": cloud.dns_zones[zone],
                "hostedZoneName": zone,
                "environment": "AzurePublicCloud",
                "managedIdentity": {"clientID": CLIENT_ID},
            }, f"{issuer.urn}: solver for {zone}"


def test_local_has_no_acme_issuers() -> None:
    graph = tls_graph("local")
    acme = [r.urn for r in k8s(graph, "cert-manager.io/v1:ClusterIssuer") if "letsencrypt" in r.urn]
    assert acme == [], f"local declares ACME issuers {acme}"


def test_custom_resources_carry_api_version_kind_name_and_labels(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    for resource in k8s(graph, "cert-manager.io/v1:ClusterIssuer") + k8s(graph, "cert-manager.io/v1:Certificate"):
        if resource.name == "consumer":
            continue
        inputs = resource.inputs
        assert inputs["apiVersion"] == "cert-manager.io/v1", resource.urn
        assert inputs["kind"] == resource.type.rsplit(":", 1)[1], resource.urn
        assert inputs["metadata"]["name"] and "spec" in inputs, resource.urn
        assert ("namespace" in inputs["metadata"]) == (inputs["kind"] == "Certificate"), resource.urn
        labels = inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "micro", resource.urn
        assert labels["app.kubernetes.io/managed-by"] == "pulumi" and labels["app.kubernetes.io/name"], resource.urn
