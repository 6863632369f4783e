"""The edge: Envoy Gateway, Gateways, certificates and routes, built alone under traceable mocks.

Backends, public IP names and the issuer are strings that name themselves, so a listener, route or Service
that points at the wrong one fails by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.kubernetes.contracts import EDGE_NAMESPACE, Backend, CloudBindings
from components.kubernetes.edge import KIND_HTTP_NODE_PORT, KIND_HTTPS_NODE_PORT, Edge, EdgeArgs
from infra.config.loader import load_environment
from infra.config.model import Environment
from infra.plan.engine import Graph, Registration, run
from tests.conftest import ROOT, component_graph, k8s
from tests.k8s_schema import validate

ISSUER = "issuer-under-test"
GATEWAY = "gateway.networking.k8s.io/v1:Gateway"
ENVOY_PROXY = "gateway.envoyproxy.io/v1alpha1:EnvoyProxy"
CERTIFICATE = "cert-manager.io/v1:Certificate"
HTTP_ROUTE = "gateway.networking.k8s.io/v1:HTTPRoute"
GRPC_ROUTE = "gateway.networking.k8s.io/v1:GRPCRoute"
BACKENDS = {
    "api": Backend(service="micro-api-under-test", namespace="server", port=8080, protocol="http"),
    "web": Backend(service="micro-web-under-test", namespace="server", port=8082, protocol="http"),
    "proxy": Backend(service="micro-proxy-under-test", namespace="server", port=8081, protocol="grpc"),
}


def environment(name: str) -> Environment:
    return load_environment(ROOT / Path(f"environments/{name}.yaml"))


def bindings(env: Environment) -> CloudBindings:
    return CloudBindings(
        subscription_id="subscription-under-test",
        tenant_id="tenant-under-test",
        resource_group="rg-of-region-under-test",
        dns_zones={zone: f"rg-of-zone-{zone}" for zone in env.dns.zones},
        cert_manager_client_id="client-id-of-cert-manager-under-test",
        public_ip_names={role: f"pip-of-{role}-under-test" for role in ("api", "web", "proxy")},
        backup_account="account-under-test",
        backup_container="container-under-test",
        cockroach_client_id="client-id-of-cockroach-under-test",
    )


def edge_args(env_name: str, enabled: bool = True, backends: dict[str, Backend] = BACKENDS) -> EdgeArgs:
    env = environment(env_name)
    return EdgeArgs(
        version=env.release.charts.envoy_gateway,
        hosts=env.dns.hosts,
        issuer=ISSUER,
        backends=backends,
        cloud=bindings(env) if env.is_cloud else None,
        enabled=enabled,
    )


def edge_graph(env_name: str, enabled: bool = True) -> Graph:
    def build() -> None:
        edge = Edge("edge", edge_args(env_name, enabled))
        pulumi.export("gateways", edge.gateways)
        pulumi.export("certificates", edge.certificates)

    return component_graph(build)


@pytest.fixture(scope="module", params=["local", "parity", "staging", "platform"])
def any_env(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    return request.param, edge_graph(request.param)


@pytest.fixture(scope="module", params=["staging", "platform"])
def cloud_env(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    return request.param, edge_graph(request.param)


def spec(r: Registration) -> dict[str, Any]:
    return r.inputs["spec"]


def name_of(r: Registration) -> str:
    return r.inputs["metadata"]["name"]


def listeners(graph: Graph) -> list[tuple[Registration, dict[str, Any]]]:
    return [(gateway, listener) for gateway in k8s(graph, GATEWAY) for listener in spec(gateway)["listeners"]]


def routes(graph: Graph) -> list[Registration]:
    return k8s(graph, HTTP_ROUTE) + k8s(graph, GRPC_ROUTE)


# --- Gateways and their proxies -------------------------------------------------------------------


def test_cloud_has_one_gateway_per_endpoint_each_on_its_own_public_ip(cloud_env: tuple[str, Graph]) -> None:
    name, graph = cloud_env
    cloud = bindings(environment(name))
    gateways = {name_of(g): g for g in k8s(graph, GATEWAY, namespace=EDGE_NAMESPACE)}
    assert sorted(gateways) == ["edge-api", "edge-proxy", "edge-web"], f"{name} Gateways: {sorted(gateways)}"
    proxies = {name_of(p): p for p in k8s(graph, ENVOY_PROXY, namespace=EDGE_NAMESPACE)}
    used = [spec(g)["infrastructure"]["parametersRef"]["name"] for g in gateways.values()]
    assert len(set(used)) == 3, f"Gateways share EnvoyProxies: {used}"
    for role in ("api", "web", "proxy"):
        gateway = gateways[f"edge-{role}"]
        ref = spec(gateway)["infrastructure"]["parametersRef"]
        assert ref["group"] == "gateway.envoyproxy.io" and ref["kind"] == "EnvoyProxy", gateway.urn
        proxy = proxies[ref["name"]]
        assert proxy.urn in gateway.dependencies, f"{gateway.urn} has no data edge to {proxy.urn}"
        kubernetes = spec(proxy)["provider"]["kubernetes"]
        service = kubernetes["envoyService"]
        assert service["type"] == "LoadBalancer", proxy.urn
        assert service["annotations"] == {
            "service.beta.kubernetes.io/azure-pip-name": cloud.public_ip_names[role],
            "service.beta.kubernetes.io/azure-load-balancer-resource-group": cloud.resource_group,
        }, f"{proxy.urn}: the {role} Gateway must take the {role} public IP"
        assert service["externalTrafficPolicy"] == "Local", proxy.urn
        deployment = kubernetes["envoyDeployment"]
        assert deployment["replicas"] == 2, f"{proxy.urn}: Envoy is not HA"
        spread = deployment["pod"]["topologySpreadConstraints"][0]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone", proxy.urn
        assert spread["labelSelector"]["matchLabels"] == {"gateway.envoyproxy.io/owning-gateway-name": name_of(gateway)}
        assert set(deployment["container"]["resources"]) == {"requests", "limits"}, proxy.urn
        assert kubernetes["envoyPDB"] == {"minAvailable": 1}, proxy.urn


def test_local_has_one_gateway_on_the_kind_node_ports() -> None:
    graph = edge_graph("local")
    (gateway,) = k8s(graph, GATEWAY)
    (proxy,) = k8s(graph, ENVOY_PROXY)
    assert name_of(gateway) == "edge-local", gateway.urn
    assert spec(gateway)["infrastructure"]["parametersRef"]["name"] == name_of(proxy), gateway.urn
    service = spec(proxy)["provider"]["kubernetes"]["envoyService"]
    assert service["type"] == "NodePort" and "annotations" not in service, proxy.urn
    ports = {p["port"]: p["nodePort"] for p in service["patch"]["value"]["spec"]["ports"]}
    assert ports == {80: KIND_HTTP_NODE_PORT, 443: KIND_HTTPS_NODE_PORT}, f"{proxy.urn} node ports {ports}"
    assert service["patch"]["type"] == "StrategicMerge", proxy.urn
    assert (KIND_HTTP_NODE_PORT, KIND_HTTPS_NODE_PORT) == (30080, 30443)


def test_gateways_use_the_envoy_class(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    (gateway_class,) = k8s(graph, "gateway.networking.k8s.io/v1:GatewayClass")
    assert name_of(gateway_class) == "envoy"
    assert spec(gateway_class) == {"controllerName": "gateway.envoyproxy.io/gatewayclass-controller"}
    for gateway in k8s(graph, GATEWAY):
        assert spec(gateway)["gatewayClassName"] == "envoy", gateway.urn
        assert gateway_class.urn in gateway.dependencies, f"{gateway.urn} has no data edge to the GatewayClass"


# --- listeners and certificates -------------------------------------------------------------------


def test_listener_hosts_are_the_environment_hosts(any_env: tuple[str, Graph]) -> None:
    name, graph = any_env
    hosts = environment(name).dns.hosts
    https = sorted(listener["hostname"] for _, listener in listeners(graph) if listener["protocol"] == "HTTPS")
    assert https == sorted(hosts.model_dump().values()), f"{name} HTTPS listeners serve {https}"
    http = sorted(listener["hostname"] for _, listener in listeners(graph) if listener["protocol"] == "HTTP")
    assert http == sorted([hosts.api, hosts.apps, hosts.web]), f"{name} HTTP listeners serve {http}"
    for gateway, listener in listeners(graph):
        assert listener["port"] == {"HTTPS": 443, "HTTP": 80}[listener["protocol"]], f"{gateway.urn} {listener['name']}"


def test_platform_api_gateway_serves_the_user_app_wildcard() -> None:
    graph = edge_graph("platform")
    (api,) = k8s(graph, GATEWAY, name="edge-api")
    served = {listener["hostname"] for listener in spec(api)["listeners"] if listener["protocol"] == "HTTPS"}
    assert served == {"api.m3o.com", "*.m3o.app"}, f"{api.urn} serves {served}"


def test_every_https_listener_presents_a_certificate_for_its_host(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    certificates = {spec(c)["secretName"]: c for c in k8s(graph, CERTIFICATE)}
    for gateway, listener in listeners(graph):
        if listener["protocol"] != "HTTPS":
            continue
        where = f"{gateway.urn} listener {listener['name']}"
        assert listener["tls"]["mode"] == "Terminate", where
        (ref,) = listener["tls"]["certificateRefs"]
        assert ref["kind"] == "Secret" and ref["group"] == "", where
        certificate = certificates.get(ref["name"])
        assert certificate is not None, f"{where} presents {ref['name']}, which no Certificate issues"
        assert certificate.inputs["metadata"]["namespace"] == gateway.inputs["metadata"]["namespace"], where
        assert listener["hostname"] in spec(certificate)["dnsNames"], f"{certificate.urn} does not cover {where}"
        assert certificate.urn in gateway.dependencies, f"{gateway.urn} has no data edge to {certificate.urn}"
        assert spec(certificate)["issuerRef"] == {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_certificate_outputs_name_the_secrets(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    issued = sorted(spec(c)["secretName"] for c in k8s(graph, CERTIFICATE, namespace=EDGE_NAMESPACE))
    assert sorted(graph.outputs["certificates"].values()) == issued
    gateways = {name_of(g) for g in k8s(graph, GATEWAY)}
    assert set(graph.outputs["gateways"].values()) == gateways
    assert set(graph.outputs["gateways"]) == {"api", "web", "proxy"}


def test_https_listeners_admit_only_the_backend_namespace_and_route_kind(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    for gateway, listener in listeners(graph):
        allowed, where = listener["allowedRoutes"], f"{gateway.urn} listener {listener['name']}"
        if listener["protocol"] == "HTTP":
            assert allowed["namespaces"] == {"from": "Same"}, where
            assert allowed["kinds"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}], where
            continue
        assert allowed["namespaces"] == {
            "from": "Selector",
            "selector": {"matchLabels": {"kubernetes.io/metadata.name": "server"}},
        }, where
        kind = "GRPCRoute" if listener["name"] == "https-proxy" else "HTTPRoute"
        assert allowed["kinds"] == [{"group": "gateway.networking.k8s.io", "kind": kind}], where


# --- routes ---------------------------------------------------------------------------------------


def test_routes_point_at_the_backends(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    gateway_of = graph.outputs["gateways"]
    for role, backend in BACKENDS.items():
        kind = GRPC_ROUTE if backend.protocol == "grpc" else HTTP_ROUTE
        found = k8s(graph, kind, name=f"edge-{role}", namespace=backend.namespace)
        assert len(found) == 1, f"no {kind} edge-{role} in {backend.namespace}"
        route = found[0]
        (rule,) = spec(route)["rules"]
        assert rule["backendRefs"] == [
            {"group": "", "kind": "Service", "name": backend.service, "port": backend.port}
        ], f"{route.urn} routes to {rule['backendRefs']}"
        for parent in spec(route)["parentRefs"]:
            assert (parent["kind"], parent["namespace"]) == ("Gateway", EDGE_NAMESPACE), route.urn
            assert parent["name"] == gateway_of[role], f"{route.urn} attaches to {parent['name']}"
            assert parent["sectionName"].startswith("https-"), route.urn


def test_proxy_is_a_grpc_route_and_nothing_else_routes_grpc(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    grpc = k8s(graph, GRPC_ROUTE)
    assert [name_of(r) for r in grpc] == ["edge-proxy"], f"GRPCRoutes: {[r.urn for r in grpc]}"
    assert [name_of(r) for r in k8s(graph, HTTP_ROUTE, name="edge-proxy")] == []


def test_routes_attach_to_listeners_that_exist_for_their_hosts(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    sections = {(name_of(g), listener["name"]): listener["hostname"] for g, listener in listeners(graph)}
    for route in routes(graph):
        for parent in spec(route)["parentRefs"]:
            key = (parent["name"], parent["sectionName"])
            assert key in sections, f"{route.urn} attaches to missing listener {key}"
            assert sections[key] in spec(route)["hostnames"], f"{route.urn} omits {sections[key]}"
        gateway = next(g for g in k8s(graph, GATEWAY) if name_of(g) == spec(route)["parentRefs"][0]["name"])
        assert gateway.urn in route.dependencies, f"{route.urn} has no data edge to {gateway.urn}"


def test_http_redirects_to_https_for_api_and_web_only(any_env: tuple[str, Graph]) -> None:
    name, graph = any_env
    hosts = environment(name).dns.hosts
    redirects = {name_of(r): r for r in k8s(graph, HTTP_ROUTE, namespace=EDGE_NAMESPACE)}
    assert sorted(redirects) == ["edge-api-redirect", "edge-web-redirect"], f"redirects: {sorted(redirects)}"
    expected = {"edge-api-redirect": [hosts.api, hosts.apps], "edge-web-redirect": [hosts.web]}
    for route_name, route in redirects.items():
        assert spec(route)["hostnames"] == expected[route_name], route.urn
        assert all(p["sectionName"].startswith("http-") for p in spec(route)["parentRefs"]), route.urn
        (rule,) = spec(route)["rules"]
        assert "backendRefs" not in rule, f"{route.urn} serves cleartext"
        assert rule["filters"] == [
            {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
        ], route.urn


# --- chart, namespace, object shape ---------------------------------------------------------------


def test_envoy_gateway_chart_is_pinned_release(any_env: tuple[str, Graph]) -> None:
    name, graph = any_env
    (chart,) = graph.of_type("kubernetes:helm.sh/v3:Release")
    assert chart.inputs["chart"] == "oci://docker.io/envoyproxy/gateway-helm", chart.urn
    assert chart.inputs["version"] == environment(name).release.charts.envoy_gateway, chart.urn
    assert chart.inputs["namespace"] == EDGE_NAMESPACE, chart.urn
    replicas = chart.inputs["values"]["deployment"]["replicas"]
    assert replicas == (2 if environment(name).is_cloud else 1), f"{chart.urn} runs {replicas} controllers"
    for resource in k8s(graph, GATEWAY) + k8s(graph, ENVOY_PROXY) + routes(graph):
        assert chart.urn in resource.dependencies, f"{resource.urn} does not wait for the CRDs in {chart.urn}"


def test_crds_come_from_their_own_chart_at_the_same_version(any_env: tuple[str, Graph]) -> None:
    """Helm never upgrades a chart's crds/; the CRDs chart makes each CRD a resource that follows the version."""
    name, graph = any_env
    (release,) = graph.of_type("kubernetes:helm.sh/v3:Release")
    (crds,) = graph.of_type("kubernetes:helm.sh/v4:Chart")
    version = environment(name).release.charts.envoy_gateway
    assert crds.inputs["chart"] == "oci://docker.io/envoyproxy/gateway-crds-helm" and crds.inputs["version"] == version
    assert crds.inputs["values"]["crds"]["gatewayAPI"]["enabled"] is True
    assert crds.inputs["values"]["crds"]["envoyGateway"]["enabled"] is True
    assert release.inputs["skipCrds"] is True and release.inputs["values"]["crds"] == {"enabled": False}
    assert crds.urn in release.dependencies, "the controller starts only after its CRDs exist"
    for resource in k8s(graph, GATEWAY) + k8s(graph, ENVOY_PROXY) + routes(graph) + k8s(graph, "GatewayClass"):
        assert crds.urn in resource.dependencies, f"{resource.urn} does not wait for the CRDs"


@pytest.mark.parametrize("env_name", ["local", "staging"])
def test_disabled_edge_registers_no_chart_but_keeps_the_objects(env_name: str) -> None:
    graph = edge_graph(env_name, enabled=False)
    charts = [r.urn for r in graph.registrations if r.type.startswith("kubernetes:helm.sh/")]
    assert charts == [], f"enabled=False still registers {charts}"
    assert k8s(graph, GATEWAY) and k8s(graph, CERTIFICATE) and routes(graph)


def test_edge_namespace_is_valid(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    (namespace,) = k8s(graph, "core/v1:Namespace")
    validate(namespace)
    assert name_of(namespace) == EDGE_NAMESPACE, namespace.urn
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted", "controller, certgen and proxies all meet it"


def test_custom_resources_carry_api_version_kind_name_namespace_and_labels(any_env: tuple[str, Graph]) -> None:
    _, graph = any_env
    objects = [r for r in graph.registrations if r.type.startswith("kubernetes:") and "helm.sh" not in r.type]
    for resource in objects:
        if resource.type == "kubernetes:core/v1:Namespace":
            continue
        inputs, (_, api_version, kind) = resource.inputs, resource.type.split(":")
        assert (inputs["apiVersion"], inputs["kind"]) == (api_version, kind), resource.urn
        assert inputs["metadata"]["name"] and "spec" in inputs, resource.urn
        assert ("namespace" in inputs["metadata"]) == (kind != "GatewayClass"), resource.urn
        labels = inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "micro", resource.urn
        assert labels["app.kubernetes.io/managed-by"] == "pulumi" and labels["app.kubernetes.io/name"], resource.urn


def test_edge_refuses_missing_backends() -> None:
    partial = {role: b for role, b in BACKENDS.items() if role != "web"}
    with pytest.raises(ValueError, match="no backend for web"):
        run(lambda: Edge("edge", edge_args("staging", backends=partial)), "test", {}, traceable=True)
