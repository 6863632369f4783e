"""The local stack: the seed's zero-dependency micro, `micro server` in one pod, behind the same edge."""

from __future__ import annotations

import pytest

from components.kubernetes.micro_v2 import READS, SERVER_PORTS
from infra.config.errors import ConfigError
from infra.config.loader import load_environment
from infra.plan.engine import Graph
from tests.conftest import ROOT, k8s, stack_graph


@pytest.fixture(scope="module")
def local() -> Graph:
    return stack_graph("local")


def test_local_runs_no_datastore(local: Graph) -> None:
    kinds = {r.type for r in local.registrations}
    assert not any(token.endswith(("EtcdCluster", "NatsCluster", "CockroachCluster")) for token in kinds)
    namespaces = {r.inputs["metadata"]["name"] for r in k8s(local, "core/v1:Namespace")}
    assert not namespaces & {"etcd", "nats", "cockroach"}, namespaces
    charts = {r.inputs["chart"].rsplit("/", 1)[-1] for r in local.registrations if r.type.startswith("kubernetes:helm")}
    assert not charts & {"nats", "cockroachdb"}, charts


def test_one_micro_server_pod_on_mdns_the_http_broker_and_a_file_store_on_a_volume(local: Graph) -> None:
    (deployment,) = k8s(local, "apps/v1:Deployment", namespace="server")
    spec = deployment.inputs["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}, "one bbolt writer at a time"
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["server"] and container["image"].startswith("micro/micro:v2.")
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (env["MICRO_REGISTRY"], env["MICRO_BROKER"], env["MICRO_STORE"]) == ("mdns", "http", "file")
    assert env["MICRO_REPORT_USAGE"] == "false"
    assert all(name in READS for name in env if name.startswith("MICRO_"))
    # go-micro@94bd1025:store/file keeps bbolt files under os.TempDir()/micro/store: TMPDIR must be the volume.
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == env["TMPDIR"])
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    (claim,) = k8s(local, "core/v1:PersistentVolumeClaim", namespace="server")
    assert volume["persistentVolumeClaim"]["claimName"] == claim.inputs["metadata"]["name"]
    file_store = load_environment(ROOT / "environments/local.yaml").micro.file_store
    assert file_store is not None
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == f"{file_store.storage_gb}Gi"
    assert pod["automountServiceAccountToken"] is False, "the local runtime runs processes, not pods"


def test_api_web_and_proxy_are_exposed_on_the_ports_micro_server_binds(local: Graph) -> None:
    (deployment,) = k8s(local, "apps/v1:Deployment", namespace="server")
    pod = deployment.inputs["spec"]["template"]["spec"]
    labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
    expected = {"api": ("http", 8080), "web": ("http", 8082), "proxy": ("grpc", 8081)}
    for role, (protocol, port) in expected.items():
        assert SERVER_PORTS[role] == port
        (service,) = k8s(local, "core/v1:Service", name=f"micro-{role}", namespace="server")
        (service_port,) = service.inputs["spec"]["ports"]
        assert service.inputs["spec"]["selector"].items() <= labels.items()
        assert ports[service_port["targetPort"]] == port == service_port["port"]
        assert service_port["name"] == protocol
    routes = [r for r in local.registrations if r.type.endswith(("HTTPRoute", "GRPCRoute"))]
    targets = {
        (ref["name"], ref["port"])
        for r in routes
        for rule in r.inputs["spec"]["rules"]
        for ref in rule.get("backendRefs", [])
    }
    assert targets == {("micro-api", 8080), ("micro-web", 8082), ("micro-proxy", 8081)}


def test_only_the_edge_may_connect(local: Graph) -> None:
    policies = [p.inputs["spec"] for p in k8s(local, "networking.k8s.io/v1:NetworkPolicy", namespace="server")]
    assert {"podSelector": {}, "policyTypes": ["Ingress"]} in policies
    (edge,) = [p for p in policies if p.get("ingress")]
    (rule,) = edge["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}}
    ]
    assert sorted(p["port"] for p in rule["ports"]) == [8080, 8081, 8082]


@pytest.mark.parametrize(
    ("micro", "message"),
    [
        ("{mode: zero-dependency, replicas: 2, file_store: {storage_gb: 1, storage_class: standard}}", "replicas:"),
        ("{mode: zero-dependency, replicas: 1}", "file_store: zero-dependency needs a volume"),
        ("{mode: datastores, replicas: 1}", "datastores: required when micro.mode is datastores"),
        ("{mode: serverless, replicas: 1}", "micro.mode"),
        (
            "{mode: zero-dependency, replicas: 1, file_store: {storage_gb: 1, storage_class: standard},"
            " services: {gateway: {replicas: 1}}}",
            "services.gateway: not a micro v2 service",
        ),
    ],
)
def test_bad_micro_settings_are_refused_with_the_key(
    tmp_path: pytest.TempPathFactory, micro: str, message: str
) -> None:
    from pathlib import Path

    text = (ROOT / "environments/local.yaml").read_text()
    start, end = text.index("micro:\n"), text.index("release:\n")
    path = Path(str(tmp_path)) / "local.yaml"
    path.write_text(text[:start] + f"micro: {micro}\n" + text[end:])
    with pytest.raises(ConfigError) as raised:
        load_environment(path)
    assert message in str(raised.value), str(raised.value)


@pytest.mark.parametrize("tag", ["latest", "Latest", "LATEST"])
def test_latest_is_refused_in_any_spelling_with_the_reason(tmp_path: pytest.TempPathFactory, tag: str) -> None:
    from pathlib import Path

    text = (ROOT / "environments/staging.yaml").read_text().replace("tag: v2.9.3", f"tag: {tag}")
    path = Path(str(tmp_path)) / "staging.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_environment(path)
    assert "release.micro.tag" in str(raised.value) and "moves with every release" in str(raised.value)


def test_a_digest_is_taken_with_the_tag(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    digest = "sha256:" + "ab" * 32
    text = (ROOT / "environments/staging.yaml").read_text().replace("tag: v2.9.3", f"tag: v2.9.3\n    digest: {digest}")
    path = Path(str(tmp_path)) / "staging.yaml"
    path.write_text(text)
    assert load_environment(path).release.micro.ref == f"micro/micro:v2.9.3@{digest}"


def test_cloud_environments_cannot_run_zero_dependency(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    text = (ROOT / "environments/staging.yaml").read_text().replace("mode: datastores", "mode: zero-dependency")
    text = text.replace("  replicas: 2\n", "  replicas: 1\n  file_store: {storage_gb: 1, storage_class: standard}\n", 1)
    path = Path(str(tmp_path)) / "staging.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_environment(path)
    assert "micro.mode: cloud environments run on the datastores" in str(raised.value)


def test_the_model_knows_exactly_the_contract_services() -> None:
    """The model cannot import the components (data flows one way), so its list is checked against the table."""
    from components.kubernetes.micro_v2 import SERVICES
    from infra.config.model import CORE_SERVICES

    assert sorted(CORE_SERVICES) == sorted(SERVICES)
