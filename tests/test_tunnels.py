"""Encryption in transit that micro v2 cannot do itself: every datastore address followed to where it lands.

micro dials 127.0.0.1; the test follows that address to the ghostunnel client in the same pod, its target to the
datastore's client Service, the Service's port to the container behind it, and that container (a ghostunnel
server demanding micro's client certificate) to the datastore's loopback listener. Nothing on the path may be
plaintext off the pod's loopback. The real program on the committed datastore stacks.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.kubernetes.micro_v2 import SERVICES, Backend
from infra.plan.engine import Graph, Registration
from tests.conftest import k8s, stack_graph

DATASTORE_STACKS = ("parity", "staging", "platform")
TUNNELED = {Backend.registry: "MICRO_REGISTRY_ADDRESS", Backend.broker: "MICRO_BROKER_ADDRESS"}


def chart(graph: Graph, token: str, name: str) -> Registration:
    (found,) = [r for r in graph.of_type(token) if r.inputs["chart"].rsplit("/", 1)[-1] == name]
    return found


def flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--") and "=" in a)


def one(graph: Graph, kind: str, name: str, namespace: str) -> Registration:
    found = k8s(graph, kind, name=name, namespace=namespace)
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}"
    return found[0]


def certificate_for(graph: Graph, secret: str, namespace: str) -> dict[str, Any]:
    (cert,) = [
        c
        for c in k8s(graph, "cert-manager.io/v1:Certificate", namespace=namespace)
        if c.inputs["spec"]["secretName"] == secret
    ]
    spec: dict[str, Any] = cert.inputs["spec"]
    return spec


def secret_of_mount(pod: dict[str, Any], container: dict[str, Any], path: str) -> str:
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return str(volume["secret"]["secretName"])


def datastore_pod(graph: Graph, backend: Backend, host: str, port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod template and the container that serve <host>:<port> on the pod IP, behind the client Service."""
    name, namespace = host.split(".")[:2]
    if backend is Backend.registry:
        service = one(graph, "core/v1:Service", name, namespace)
        (service_port,) = [p for p in service.inputs["spec"]["ports"] if p["port"] == port]
        (workload,) = k8s(graph, "apps/v1:StatefulSet", namespace=namespace)
        pod = workload.inputs["spec"]["template"]["spec"]
        labels = workload.inputs["spec"]["template"]["metadata"]["labels"]
        assert service.inputs["spec"]["selector"].items() <= labels.items(), f"{host} selects no etcd pod"
        (server,) = [c for c in pod["containers"] if any(p["containerPort"] == port for p in c["ports"])]
        assert service_port["targetPort"] in {p["name"] for p in server["ports"]}, "the Service targets the tunnel"
    else:
        # The chart renders Service `<fullname>` (targetPort `nats`, the client port) and the StatefulSet; what
        # micro-infra adds to its pod is the `podTemplate.patch`.
        nats = chart(graph, "kubernetes:helm.sh/v4:Chart", "nats")
        values = nats.inputs["values"]
        assert (values["fullnameOverride"], nats.inputs["namespace"]) == (name, namespace)
        assert values["config"]["nats"]["port"] == port
        patch = values["podTemplate"]["patch"]
        pod = {"volumes": [op["value"] for op in patch if op["path"] == "/spec/volumes/-"]}
        (server,) = [op["value"] for op in patch if op["path"] == "/spec/containers/-"]
    assert server["args"][0] == "server" and flags(server["args"])["listen"].endswith(f":{port}")
    return pod, server


@pytest.mark.parametrize("stack", DATASTORE_STACKS)
def test_micro_reaches_etcd_and_nats_only_through_mutual_tls(stack: str) -> None:
    graph = stack_graph(stack)
    for service, row in SERVICES.items():
        (deployment,) = k8s(graph, "apps/v1:Deployment", name=f"micro-{service}", namespace="server")
        pod = deployment.inputs["spec"]["template"]["spec"]
        micro = next(c for c in pod["containers"] if c["name"] == "micro")
        env = {e["name"]: e.get("value") for e in micro["env"]}
        for backend, variable in TUNNELED.items():
            assert backend in row.backends
            address = env[variable]
            assert address.startswith("127.0.0.1:"), f"micro-{service} dials {address} off the pod"
            clients = [c for c in pod.get("initContainers", []) if flags(c.get("args", [])).get("listen") == address]
            assert len(clients) == 1, f"micro-{service}: nothing listens on {address}"
            client = clients[0]
            assert client["args"][0] == "client" and client.get("restartPolicy") == "Always", "a native sidecar"
            client_flags = flags(client["args"])
            host, port = client_flags["target"].rsplit(":", 1)
            # The client presents micro's certificate from the internal CA and checks the server's name.
            client_secret = secret_of_mount(pod, client, client_flags["cert"])
            assert secret_of_mount(pod, client, client_flags["key"]) == client_secret
            client_cert = certificate_for(graph, client_secret, "server")
            assert "client auth" in client_cert["usages"]

            store_pod, server = datastore_pod(graph, backend, host, int(port))
            server_flags = flags(server["args"])
            assert server_flags["listen"] == f"$(POD_IP):{port}", "the network-facing listener is the tunnel"
            assert server_flags["allow-cn"] == client_cert["commonName"], "the server admits micro's CN only"
            assert "disable-authentication" not in server_flags
            namespace = host.split(".")[1]
            server_cert = certificate_for(graph, secret_of_mount(store_pod, server, server_flags["cert"]), namespace)
            assert host in server_cert["dnsNames"], f"{host} is not in the certificate the client verifies"
            assert server_cert["issuerRef"] == client_cert["issuerRef"], "both ends trust the same CA"
            assert server_flags["target"] == f"127.0.0.1:{port}"
            assert_datastore_listens_on_loopback_only(graph, backend, int(port))


def assert_datastore_listens_on_loopback_only(graph: Graph, backend: Backend, port: int) -> None:
    if backend is Backend.registry:
        (sts,) = k8s(graph, "apps/v1:StatefulSet", namespace="etcd")
        etcd = next(c for c in sts.inputs["spec"]["template"]["spec"]["containers"] if c["name"] == "etcd")
        assert flags(etcd["args"])["listen-client-urls"] == f"http://127.0.0.1:{port}"
        assert flags(etcd["args"])["listen-peer-urls"].startswith("https://"), "peers keep etcd's own TLS"
    else:
        config = chart(graph, "kubernetes:helm.sh/v4:Chart", "nats").inputs["values"]["config"]
        assert config["nats"] == {"port": port, "tls": {"enabled": False}}
        # `host` binds clients; the monitor (probes) and routes must not follow it onto loopback.
        assert config["merge"]["host"] == "127.0.0.1" and config["merge"]["http_host"] == "0.0.0.0"
        assert config["merge"]["no_advertise"] is True, "clients must not learn member addresses past the tunnel"
        assert config["cluster"]["merge"] == {"host": "0.0.0.0"} and config["cluster"]["tls"]["enabled"] is True


@pytest.mark.parametrize("stack", DATASTORE_STACKS)
def test_cockroach_is_reached_over_verified_tls_at_its_public_service(stack: str) -> None:
    graph = stack_graph(stack)
    (deployment,) = k8s(graph, "apps/v1:Deployment", name="micro-store", namespace="server")
    micro = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    dsn = next(e["value"] for e in micro["env"] if e["name"] == "MICRO_STORE_ADDRESS")
    authority = dsn.split("://", 1)[1].split("/", 1)[0]
    user, hostport = authority.split("@")
    host, port = hostport.rsplit(":", 1)
    name, namespace = host.split(".")[:2]
    service = one(graph, "core/v1:Service", name, namespace) if k8s(graph, "core/v1:Service", name=name) else None
    release = chart(graph, "kubernetes:helm.sh/v3:Release", "cockroachdb")
    assert release.inputs["namespace"] == namespace and service is None, "the chart owns the public Service"
    assert name == f"{release.inputs['values']['fullnameOverride']}-public" and port == "26257"
    (client,) = k8s(graph, "cert-manager.io/v1:Certificate", name="cockroach-client-tls", namespace="server")
    assert client.inputs["spec"]["commonName"] == user, "CockroachDB maps the certificate CN to the SQL user"
    assert "sslmode=verify-full" in dsn


@pytest.mark.parametrize("stack", DATASTORE_STACKS)
def test_datastores_admit_micro_only(stack: str) -> None:
    graph = stack_graph(stack)
    for namespace, port in (("etcd", 2379), ("nats", 4222), ("cockroach", 26257)):
        (policy,) = k8s(graph, "networking.k8s.io/v1:NetworkPolicy", namespace=namespace)
        clients = policy.inputs["spec"]["ingress"][0]
        assert clients["ports"] == [{"protocol": "TCP", "port": port}]
        assert clients["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "server"}}}]


def test_a_plaintext_datastore_listener_is_caught() -> None:
    """The wiring test above can fail: a graph whose etcd listens for clients off loopback is refused."""
    graph = stack_graph("parity")
    (sts,) = k8s(graph, "apps/v1:StatefulSet", namespace="etcd")
    etcd = next(c for c in sts.inputs["spec"]["template"]["spec"]["containers"] if c["name"] == "etcd")
    original = list(etcd["args"])
    try:
        etcd["args"][:] = [a.replace("http://127.0.0.1", "http://0.0.0.0") for a in original]
        with pytest.raises(AssertionError):
            assert_datastore_listens_on_loopback_only(graph, Backend.registry, 2379)
    finally:
        etcd["args"][:] = original
