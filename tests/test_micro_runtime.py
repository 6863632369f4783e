"""MicroRuntime and MicroService: every micro service, its wiring to the datastores, and its fences.

Each environment file is built once (local: one replica; staging and platform: two, with PDBs and spreading).
Endpoints are built the way the datastore components publish them.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.kubernetes.contracts import EDGE_NAMESPACE, SERVER_NAMESPACE, USER_NAMESPACE, Backend, Endpoint
from components.kubernetes.micro_runtime import (
    EDGE_SERVICES,
    SERVICES,
    MicroRuntime,
    MicroRuntimeArgs,
    service_env,
    store_url,
)
from components.kubernetes.micro_service import MicroService, MicroServiceArgs
from infra.config.loader import load_environment
from infra.plan.engine import Graph, Registration
from tests.conftest import ROOT, component_graph, k8s
from tests.k8s_schema import validate

REGISTRY = Endpoint("etcd-client.etcd.svc.cluster.local", 2379, "etcd")
BROKER = Endpoint("nats.nats.svc.cluster.local", 4222, "nats")
STORE = Endpoint("cockroach-cockroachdb-public.cockroach.svc.cluster.local", 26257, "cockroach", client_user="root")
ISSUER = "internal-ca"
CORE = [s for s in SERVICES if s not in EDGE_SERVICES]
ENVIRONMENTS = ("local", "staging", "platform")
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"

_built: dict[str, tuple[Graph, MicroRuntime]] = {}


def build(env_name: str) -> tuple[Graph, MicroRuntime]:
    if env_name not in _built:
        env = load_environment(ROOT / "environments" / f"{env_name}.yaml")
        made: list[MicroRuntime] = []

        def program() -> None:
            made.append(
                MicroRuntime(
                    "micro",
                    MicroRuntimeArgs(
                        image=env.release.micro.ref,
                        replicas=env.micro.replicas,
                        zones=list(env.regions[0].zones),
                        ca_issuer=ISSUER,
                        registry=REGISTRY,
                        broker=BROKER,
                        store=STORE,
                        api_host=env.dns.hosts.api,
                    ),
                )
            )

        _built[env_name] = (component_graph(program), made[0])
    return _built[env_name]


@pytest.fixture(params=ENVIRONMENTS)
def built(request: pytest.FixtureRequest) -> tuple[str, Graph, MicroRuntime]:
    return (request.param, *build(request.param))


@pytest.fixture
def graph(built: tuple[str, Graph, MicroRuntime]) -> Graph:
    return built[1]


def one(graph: Graph, kind: str, name: str, namespace: str | None = SERVER_NAMESPACE) -> Registration:
    found = k8s(graph, kind, name=name, namespace=namespace)
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def deployment(graph: Graph, service: str) -> Registration:
    return one(graph, "apps/v1:Deployment", f"micro-{service}")


def container(graph: Graph, service: str) -> dict[str, Any]:
    containers = deployment(graph, service).inputs["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["micro"], f"micro-{service}: one container named micro"
    return containers[0]


def pod(graph: Graph, service: str) -> dict[str, Any]:
    return deployment(graph, service).inputs["spec"]["template"]["spec"]


def env_of(graph: Graph, service: str) -> dict[str, Any]:
    """name → value (or the valueFrom dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(graph, service)["env"]}


def certificates(graph: Graph) -> dict[str, dict[str, Any]]:
    """secretName → spec of every Certificate in `server`."""
    return {
        r.inputs["spec"]["secretName"]: r.inputs["spec"]
        for r in graph.of_type(CERTIFICATE)
        if r.inputs["metadata"]["namespace"] == SERVER_NAMESPACE
    }


# --- the pure env function ----------------------------------------------------------------------


def test_service_env_wires_platform_services_to_the_given_endpoints() -> None:
    env = {e["name"]: e for e in service_env("store", REGISTRY, BROKER, STORE, "api.m3o.dev")}
    values = {k: e.get("value") for k, e in env.items()}
    assert values["MICRO_PROFILE"] == "platform"
    assert values["MICRO_SERVICE_NAME"] == "store"
    assert values["MICRO_SERVICE_ADDRESS"] == ":8002"
    assert values["MICRO_REGISTRY_ADDRESS"] == "etcd-client.etcd.svc.cluster.local:2379"
    assert values["MICRO_BROKER_ADDRESS"] == "nats.nats.svc.cluster.local:4222"
    assert values["MICRO_STORE_ADDRESS"] == (
        "postgresql://root@cockroach-cockroachdb-public.cockroach.svc.cluster.local:26257/micro?sslmode=verify-full"
        "&sslrootcert=/certs/store/ca.crt&sslcert=/certs/store/tls.crt&sslkey=/certs/store/tls.key"
    )
    for prefix, mount in [("REGISTRY", "registry"), ("BROKER", "broker"), ("EVENTS", "broker"), ("STORE", "store")]:
        assert values[f"MICRO_{prefix}_TLS_CA"] == f"/certs/{mount}/ca.crt"
        assert values[f"MICRO_{prefix}_TLS_CERT"] == f"/certs/{mount}/tls.crt"
        assert values[f"MICRO_{prefix}_TLS_KEY"] == f"/certs/{mount}/tls.key"
    assert values["MICRO_PROXY"] == "micro-network.server.svc.cluster.local:8443"
    assert env["MICRO_AUTH_PUBLIC_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "jwt-creds", "key": "tls.crt"}}
    assert env["MICRO_AUTH_PRIVATE_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "jwt-creds", "key": "tls.key"}}


def test_service_env_gives_client_services_only_the_proxy_and_auth_keys() -> None:
    for name in EDGE_SERVICES:
        env = {e["name"]: e.get("value") for e in service_env(name, REGISTRY, BROKER, STORE, "api.m3o.dev")}
        assert env["MICRO_PROFILE"] == "client", name
        assert env["MICRO_PROXY"] == "micro-network.server.svc.cluster.local:8443", name
        assert {"MICRO_AUTH_PUBLIC_KEY", "MICRO_AUTH_PRIVATE_KEY"} <= set(env), name
        leaked = [k for k in env if "_TLS_" in k or k.endswith(("REGISTRY_ADDRESS", "BROKER_ADDRESS", "STORE_ADDRESS"))]
        assert not leaked, f"{name} is a client service and must not see the datastores: {leaked}"
        # api binds :8080 for HTTP itself; an RPC listener on the same address would not start.
        assert "MICRO_SERVICE_ADDRESS" not in env, name
    api = {e["name"]: e.get("value") for e in service_env("api", REGISTRY, BROKER, STORE, "api.m3o.dev")}
    web = {e["name"]: e.get("value") for e in service_env("web", REGISTRY, BROKER, STORE, "api.m3o.dev")}
    assert api["MICRO_API_RESOLVER"] == "subdomain"
    assert web["MICRO_API_ADDRESS"] == "https://api.m3o.dev"


def test_service_env_sends_everything_but_network_through_network() -> None:
    for name in SERVICES:
        names = [e["name"] for e in service_env(name, REGISTRY, BROKER, STORE, "api.m3o.dev")]
        assert ("MICRO_PROXY" in names) == (name != "network"), name
        assert len(names) == len(set(names)), f"{name}: an env var is set twice"


def test_service_env_never_carries_a_secret_literal() -> None:
    for name in SERVICES:
        for e in service_env(name, REGISTRY, BROKER, STORE, "api.m3o.dev"):
            if "KEY" in e["name"] and not e["name"].endswith("_TLS_KEY"):
                assert "value" not in e, f"{name}: {e['name']} must come from a Secret"


def test_store_url_needs_a_sql_user() -> None:
    with pytest.raises(ValueError, match="client_user"):
        store_url(Endpoint("db.example", 26257, "cockroach"))


# --- the services ---------------------------------------------------------------------------------


def test_every_service_runs_with_its_port_args_and_profile(graph: Graph) -> None:
    expected_args = {name: ["service", name] for name in SERVICES} | {"web": ["web"]}
    for name, spec in SERVICES.items():
        c = container(graph, name)
        assert c["args"] == expected_args[name], f"micro-{name}: args {c['args']}"
        assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [(spec.protocol, spec.port)], f"micro-{name}"
        assert env_of(graph, name)["MICRO_PROFILE"] == spec.profile, f"micro-{name}: profile"
        service = one(graph, "core/v1:Service", f"micro-{name}")
        ports = service.inputs["spec"]["ports"]
        assert [(p["port"], p["targetPort"]) for p in ports] == [(spec.port, spec.protocol)], f"Service micro-{name}"
        assert (ports[0].get("appProtocol") == "kubernetes.io/h2c") == (spec.protocol == "grpc"), f"micro-{name}"
        selector = service.inputs["spec"]["selector"]
        assert selector == {"app.kubernetes.io/name": f"micro-{name}", "micro": "server"}, f"Service micro-{name}"
        template_labels = deployment(graph, name).inputs["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template_labels.items(), f"Service micro-{name} selects no pod"


def test_the_table_matches_the_history() -> None:
    ports = {name: spec.port for name, spec in SERVICES.items()}
    assert ports == {
        "network": 8443,
        "auth": 8010,
        "broker": 8003,
        "config": 8081,
        "events": 8080,
        "registry": 8000,
        "runtime": 8088,
        "store": 8002,
        "debug": 8089,
        "api": 8080,
        "proxy": 8081,
        "web": 8082,
    }
    assert SERVICES["proxy"].protocol == "grpc"
    assert {SERVICES[s].protocol for s in ("api", "web")} == {"http"}


def test_datastore_addresses_are_the_given_endpoints(graph: Graph) -> None:
    for name in CORE:
        env = env_of(graph, name)
        assert env["MICRO_REGISTRY_ADDRESS"] == REGISTRY.address, f"micro-{name}"
        assert env["MICRO_BROKER_ADDRESS"] == BROKER.address, f"micro-{name}"
        assert env["MICRO_STORE_ADDRESS"].startswith(f"postgresql://root@{STORE.address}/"), f"micro-{name}"
        assert "sslmode=verify-full" in env["MICRO_STORE_ADDRESS"], f"micro-{name}"


def _mounted_secrets(graph: Graph, name: str) -> dict[str, str]:
    """mount path → secret name, for the secret volumes mounted into micro-<name>."""
    volumes = {v["name"]: v for v in pod(graph, name)["volumes"]}
    out = {}
    for m in container(graph, name).get("volumeMounts", []):
        volume = volumes[m["name"]]
        if "secret" in volume:
            assert m.get("readOnly") is True, f"micro-{name}: {m['mountPath']} must be read-only"
            assert volume["secret"]["defaultMode"] == 0o400, f"micro-{name}: {m['name']} mode"
            out[m["mountPath"]] = volume["secret"]["secretName"]
    return out


def _under(path: str, mounts: dict[str, str]) -> str | None:
    for mount, secret in mounts.items():
        if path.startswith(mount.rstrip("/") + "/"):
            return secret
    return None


def test_every_tls_path_is_a_mounted_certificate_from_the_internal_ca(graph: Graph) -> None:
    certs = certificates(graph)
    for name in SERVICES:
        mounts = _mounted_secrets(graph, name)
        env = env_of(graph, name)
        paths = {k: v for k, v in env.items() if "_TLS_" in k}
        store = env.get("MICRO_STORE_ADDRESS")
        if store:
            query = dict(p.split("=", 1) for p in store.split("?", 1)[1].split("&"))
            paths |= {f"store url {k}": query[k] for k in ("sslrootcert", "sslcert", "sslkey")}
        if SERVICES[name].profile == "platform":
            assert len(paths) == 15, f"micro-{name}: 4 TLS triples and 3 store URL paths, got {sorted(paths)}"
        else:
            assert not paths and not mounts, f"micro-{name} is a client service; it mounts no certificates"
        for key, path in paths.items():
            secret = _under(path, mounts)
            assert secret is not None, f"micro-{name}: {key}={path} is under no mounted secret"
            assert path.rsplit("/", 1)[1] in ("ca.crt", "tls.crt", "tls.key"), f"micro-{name}: {key}={path}"
            assert secret in certs, f"micro-{name}: {key} reads secret {secret}, which no Certificate writes"
            issuer = certs[secret]["issuerRef"]
            assert issuer == {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"}, secret


def test_client_certificates(graph: Graph) -> None:
    certs = certificates(graph)
    assert set(certs) == {"etcd-client-tls", "nats-client-tls", "cockroach-client-tls", "jwt-creds"}
    for secret in ("etcd-client-tls", "nats-client-tls", "cockroach-client-tls"):
        spec = certs[secret]
        assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256, secret
        assert "client auth" in spec["usages"] and "server auth" not in spec["usages"], secret
    assert certs["cockroach-client-tls"]["commonName"] == STORE.client_user


def test_auth_keys_come_from_the_jwt_certificate(graph: Graph) -> None:
    jwt = certificates(graph)["jwt-creds"]
    assert jwt["privateKey"]["algorithm"] == "RSA" and jwt["privateKey"]["size"] == 4096
    assert jwt["duration"] == "87600h"
    assert jwt["commonName"] == "auth" and jwt["subject"]["organizations"] == ["m3o"]
    assert jwt["issuerRef"]["name"] == ISSUER
    for name in SERVICES:
        env = env_of(graph, name)
        assert env["MICRO_AUTH_PUBLIC_KEY"] == {"secretKeyRef": {"name": "jwt-creds", "key": "tls.crt"}}, name
        assert env["MICRO_AUTH_PRIVATE_KEY"] == {"secretKeyRef": {"name": "jwt-creds", "key": "tls.key"}}, name


def test_micro_proxy_points_at_the_network_service(graph: Graph) -> None:
    network = one(graph, "core/v1:Service", "micro-network")
    target = f"micro-network.{network.inputs['metadata']['namespace']}.svc.cluster.local"
    target += f":{network.inputs['spec']['ports'][0]['port']:.0f}"
    for name in SERVICES:
        env = env_of(graph, name)
        if name == "network":
            assert "MICRO_PROXY" not in env, "micro-network must not proxy to itself"
        else:
            assert env["MICRO_PROXY"] == target, f"micro-{name}: MICRO_PROXY={env.get('MICRO_PROXY')}"


def test_web_calls_the_public_api(built: tuple[str, Graph, MicroRuntime]) -> None:
    env_name, graph, _ = built
    host = load_environment(ROOT / "environments" / f"{env_name}.yaml").dns.hosts.api
    assert env_of(graph, "web")["MICRO_API_ADDRESS"] == f"https://{host}"
    assert env_of(graph, "api")["MICRO_API_RESOLVER"] == "subdomain"


def test_images_are_pinned(built: tuple[str, Graph, MicroRuntime]) -> None:
    env_name, graph, _ = built
    ref = load_environment(ROOT / "environments" / f"{env_name}.yaml").release.micro.ref
    for name in SERVICES:
        c = container(graph, name)
        assert c["image"] == ref, f"micro-{name}: image {c['image']}"
        assert ":" in c["image"].rsplit("/", 1)[1] and not c["image"].endswith(":latest"), f"micro-{name}"
        assert c["imagePullPolicy"] == "IfNotPresent", f"micro-{name}"


def test_containers_are_hardened(graph: Graph) -> None:
    for name in SERVICES:
        c, p = container(graph, name), pod(graph, name)
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0, f"micro-{name}"
        assert sc["readOnlyRootFilesystem"] is True, f"micro-{name}"
        assert sc["allowPrivilegeEscalation"] is False, f"micro-{name}"
        assert sc["capabilities"] == {"drop": ["ALL"]}, f"micro-{name}"
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, f"micro-{name}"
        assert p["securityContext"]["fsGroup"] == sc["runAsUser"], f"micro-{name}: 0400 secrets must stay readable"
        tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        volumes = {v["name"]: v for v in p["volumes"]}
        assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], f"micro-{name}: /tmp is an emptyDir"
        assert p["enableServiceLinks"] is False, f"micro-{name}"
        assert c["resources"] == {
            "requests": {"cpu": "100m", "memory": "100Mi"},
            "limits": {"cpu": "1", "memory": "4Gi"},
        }, f"micro-{name}"
        port = SERVICES[name].protocol
        assert c["readinessProbe"] == {"tcpSocket": {"port": port}, "initialDelaySeconds": 5, "periodSeconds": 10}
        assert c["livenessProbe"] == {
            "tcpSocket": {"port": port},
            "initialDelaySeconds": 15,
            "periodSeconds": 20,
            "failureThreshold": 6,
        }, f"micro-{name}"
        annotations = deployment(graph, name).inputs["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/path": "/metrics",
            "prometheus.io/port": "9000",
        }, f"micro-{name}"


def test_only_the_runtime_gets_a_token(graph: Graph) -> None:
    for name in SERVICES:
        p = pod(graph, name)
        if name == "runtime":
            assert p["serviceAccountName"] == "micro-runtime" and p["automountServiceAccountToken"] is True
        else:
            assert p["automountServiceAccountToken"] is False, f"micro-{name} must not mount a token"
            account = one(graph, "core/v1:ServiceAccount", p["serviceAccountName"])
            assert account.inputs["automountServiceAccountToken"] is False, f"ServiceAccount of micro-{name}"
    runtime_account = one(graph, "core/v1:ServiceAccount", "micro-runtime")
    assert runtime_account.inputs["automountServiceAccountToken"] is True


def test_the_runtime_role_covers_exactly_what_the_runtime_does(graph: Graph) -> None:
    role = one(graph, "rbac.authorization.k8s.io/v1:ClusterRole", "micro-runtime", namespace=None)
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role.inputs["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    crud = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    core = ("pods", "pods/log", "services", "secrets", "namespaces", "resourcequotas")
    expected = {
        **{("", r): crud for r in core},
        ("apps", "deployments"): crud - {"deletecollection"},
        ("networking.k8s.io", "networkpolicies"): crud,
    }
    assert granted == expected, f"ClusterRole micro-runtime: extra {granted.items() - expected.items()}, " + (
        f"missing {expected.items() - granted.items()}"
    )
    binding = one(graph, "rbac.authorization.k8s.io/v1:ClusterRoleBinding", "micro-runtime", namespace=None)
    assert binding.inputs["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "micro-runtime",
    }
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "micro-runtime", "namespace": "server"}]


def test_namespaces(graph: Graph) -> None:
    server = one(graph, "core/v1:Namespace", SERVER_NAMESPACE, namespace=None).inputs["metadata"]["labels"]
    user = one(graph, "core/v1:Namespace", USER_NAMESPACE, namespace=None).inputs["metadata"]["labels"]
    assert server["pod-security.kubernetes.io/enforce"] == "restricted"
    assert user["pod-security.kubernetes.io/enforce"] == "baseline"
    assert user["owner"] == "micro"


def _policies(graph: Graph) -> list[dict[str, Any]]:
    return [r.inputs["spec"] for r in k8s(graph, "networking.k8s.io/v1:NetworkPolicy", namespace=SERVER_NAMESPACE)]


def _admitted(graph: Graph, service: str) -> list[tuple[dict[str, Any], list[Any]]]:
    """(peer, ports) pairs of every policy that selects micro-<service>'s pods."""
    labels = deployment(graph, service).inputs["spec"]["template"]["metadata"]["labels"]
    out = []
    for spec in _policies(graph):
        selector = spec["podSelector"].get("matchLabels", {})
        assert "Ingress" in spec["policyTypes"]
        if selector.items() <= labels.items():
            for rule in spec.get("ingress", []):
                out += [(peer, rule.get("ports")) for peer in rule["from"]]
    return out


def test_server_denies_ingress_by_default(graph: Graph) -> None:
    deny = [
        s
        for s in _policies(graph)
        if s["podSelector"] == {} and not s.get("ingress") and s["policyTypes"] == ["Ingress"]
    ]
    assert deny, "server needs a default-deny ingress policy"


def test_only_the_edge_reaches_api_web_and_proxy(graph: Graph) -> None:
    for name in EDGE_SERVICES:
        admitted = _admitted(graph, name)
        assert admitted, f"micro-{name} admits nobody"
        for peer, ports in admitted:
            assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": EDGE_NAMESPACE}}}, (
                f"micro-{name} admits {peer}"
            )
            assert ports == [{"protocol": "TCP", "port": SERVICES[name].port}], f"micro-{name} ports {ports}"


def test_core_services_admit_server_only(graph: Graph) -> None:
    for name in CORE:
        admitted = _admitted(graph, name)
        assert ({"podSelector": {}}, [{"protocol": "TCP", "port": SERVICES[name].port}]) in admitted, name
        for peer, _ in admitted:
            assert "ipBlock" not in peer and peer.get("namespaceSelector") != {}, f"micro-{name} admits {peer}"
            if name != "network":
                assert peer == {"podSelector": {}}, f"micro-{name} admits {peer} from outside server"


def test_backends_match_the_services(built: tuple[str, Graph, MicroRuntime]) -> None:
    _, graph, runtime = built
    assert set(runtime.backends) == {"api", "web", "proxy"}
    for name, backend in runtime.backends.items():
        service = one(graph, "core/v1:Service", backend.service, namespace=backend.namespace)
        port = service.inputs["spec"]["ports"][0]
        assert backend == Backend(f"micro-{name}", SERVER_NAMESPACE, int(port["port"]), SERVICES[name].protocol)


def test_replicas_spread_and_pdbs_follow_the_environment(built: tuple[str, Graph, MicroRuntime]) -> None:
    env_name, graph, _ = built
    replicas = load_environment(ROOT / "environments" / f"{env_name}.yaml").micro.replicas
    assert replicas == (1 if env_name == "local" else 2)
    pdbs = k8s(graph, "policy/v1:PodDisruptionBudget", namespace=SERVER_NAMESPACE)
    for name in SERVICES:
        d = deployment(graph, name).inputs["spec"]
        assert d["replicas"] == replicas, f"micro-{name}"
        spread = d["template"]["spec"].get("topologySpreadConstraints", [])
        pdb = [p for p in pdbs if p.inputs["metadata"]["name"] == f"micro-{name}"]
        if replicas == 1:
            assert not spread and not pdb, f"micro-{name}: one replica needs no spread or PDB"
            continue
        keys = {c["topologyKey"]: c for c in spread}
        assert set(keys) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, f"micro-{name}"
        for c in spread:
            assert c["maxSkew"] == 1 and c["labelSelector"]["matchLabels"] == d["selector"]["matchLabels"], name
        assert keys["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
        assert len(pdb) == 1, f"micro-{name} needs a PodDisruptionBudget"
        assert pdb[0].inputs["spec"]["minAvailable"] == 1
        assert pdb[0].inputs["spec"]["selector"]["matchLabels"] == d["selector"]["matchLabels"], f"micro-{name}"


@pytest.mark.parametrize("env_name", ["local", "staging"])  # platform's objects differ from staging's only in values
def test_every_object_is_named_labelled_and_valid(env_name: str) -> None:
    graph, _ = build(env_name)
    objects = [r for r in graph.registrations if r.type.startswith("kubernetes:")]
    builtin = [r for r in objects if r.type != CERTIFICATE]
    assert len(objects) - len(builtin) == 4, "four Certificates: three client certificates and the JWT keypair"
    for r in objects:
        meta = r.inputs["metadata"]
        assert meta.get("name"), f"{r.urn} has no explicit name"
        labels = meta.get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "micro", r.urn
        assert labels.get("app.kubernetes.io/managed-by") == "pulumi", r.urn
        assert labels.get("app.kubernetes.io/name"), r.urn
        cluster_scoped = r.type.endswith((":Namespace", ":ClusterRole", ":ClusterRoleBinding"))
        assert ("namespace" in meta) != cluster_scoped, f"{r.urn}: namespace {meta.get('namespace')}"
    for r in builtin:
        validate(r)


def test_children_are_parented_to_their_component(graph: Graph) -> None:
    runtime = graph.one("micro-infra:kubernetes:MicroRuntime", "micro")
    services = {r.urn for r in graph.of_type("micro-infra:kubernetes:MicroService")}
    assert len(services) == len(SERVICES)
    for r in graph.registrations:
        if r.type.startswith("kubernetes:"):
            assert r.parent == runtime.urn or r.parent in services, f"{r.urn} is parented to {r.parent}"


def test_micro_service_rejects_an_unknown_protocol() -> None:
    def program() -> None:
        MicroService(
            "bad",
            MicroServiceArgs(
                name="x", namespace="server", image="i:1", port=1, args=[], replicas=1, zones=["1"], protocol="udp"
            ),
        )

    with pytest.raises(Exception, match="protocol must be one of"):
        component_graph(program)
