"""micro v2.9.3 on the datastores: every Deployment against its row of the contract, and what v2 really reads.

The graphs are the real program on the committed stacks that run micro on etcd, NATS and CockroachDB (parity,
staging, platform). Expected values are built from the contract rows (components/kubernetes/micro_v2.py) and
from upstream facts restated here with their source, never from the functions that build the Deployments.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from components.kubernetes.micro_v2 import EDGE_SERVICES, PROFILE_ADDRESSES, READS, SERVICES, Auth, Backend
from infra.config.loader import load_stack
from infra.plan.engine import Graph, Registration
from tests.conftest import STACKS, k8s, stack_graph

DATASTORE_STACKS = ("parity", "staging", "platform")
V3_ONLY = ("MICRO_PROXY", "MICRO_PROFILE", "MICRO_EVENTS", "MICRO_SERVICE_NAME", "MICRO_SERVICE_ADDRESS")
"""What the v3-era wiring set: network as everyone's proxy, the platform/client profiles, events."""


@pytest.fixture(params=DATASTORE_STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def deployment(graph: Graph, service: str) -> Registration:
    found = k8s(graph, "apps/v1:Deployment", name=f"micro-{service}", namespace="server")
    assert len(found) == 1, f"expected one Deployment server/micro-{service}, found {len(found)}"
    return found[0]


def pod(graph: Graph, service: str) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(graph, service).inputs["spec"]["template"]["spec"]
    return spec


def micro(graph: Graph, service: str) -> dict[str, Any]:
    (container,) = [c for c in pod(graph, service)["containers"] if c["name"] == "micro"]
    return container


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def exported(container: dict[str, Any]) -> list[str]:
    """Variables the entrypoint wrapper exports (`export A B`), for images whose env is set at start."""
    command = container.get("command")
    if not command:
        return []
    script = command[2]
    return [word for part in script.split(";") if part.strip().startswith("export ") for word in part.split()[1:]]


# --- the contract -------------------------------------------------------------------------------------------


def test_every_core_service_runs_as_its_row(stack: str) -> None:
    graph = stack_graph(stack)
    for service, row in SERVICES.items():
        container = micro(graph, service)
        assert container["args"] == [service], f"micro-{service} must run `micro {service}`"
        assert container["ports"] == [{"name": row.protocol, "containerPort": row.port, "protocol": "TCP"}]
        env = {k: v for k, v in literal_env(container).items() if k.startswith("MICRO_")}
        expected = {"MICRO_REGISTRY": "etcd", "MICRO_BROKER": "nats", "MICRO_REPORT_USAGE": "false"}
        expected[row.address_env] = f":{row.port}"
        expected.update(row.env)
        if Backend.store in row.backends:
            expected["MICRO_STORE"] = "cockroach"
        if row.auth is not Auth.none:
            expected["MICRO_AUTH"] = "jwt" if row.auth is Auth.issuer else "service"
        addresses = {"MICRO_REGISTRY_ADDRESS", "MICRO_BROKER_ADDRESS"} | (
            {"MICRO_STORE_ADDRESS"} if Backend.store in row.backends else set()
        )
        if service == "web" and load_stack(stack).environment.micro.login_url:
            expected["MICRO_AUTH_LOGIN_URL"] = load_stack(stack).environment.micro.login_url
        assert {k: v for k, v in env.items() if k not in addresses} == expected, f"micro-{service}"
        assert set(env) - set(expected) == addresses, f"micro-{service}: datastore addresses"


def test_no_micro_variable_is_one_v2_does_not_read() -> None:
    for stack in STACKS:
        for registration in k8s(stack_graph(stack), "apps/v1:Deployment"):
            spec = registration.inputs["spec"]["template"]["spec"]
            for container in spec["containers"] + spec.get("initContainers", []):
                names = [e["name"] for e in container.get("env", [])] + exported(container)
                unknown = [n for n in names if n.startswith("MICRO_") and n not in READS]
                assert not unknown, f"{registration.urn} {container['name']}: v2.9.3 reads none of {unknown}"
                assert not [n for n in names if n in V3_ONLY or "_TLS_" in n], f"{registration.urn}: v3 wiring"


def test_the_contract_only_names_variables_v2_reads() -> None:
    for service, row in SERVICES.items():
        for name in (row.address_env, *(key for key, _ in row.env)):
            assert name in READS, f"{service}: {name} is not read by micro v2.9.3"


def test_api_and_web_route_subdomains_and_the_edge_gets_the_ports_v2_binds(stack: str) -> None:
    graph = stack_graph(stack)
    api, web, proxy = (literal_env(micro(graph, s)) for s in EDGE_SERVICES)
    # micro/micro@e60b2cac: internal/namespace/resolver.go maps the subdomain to the namespace only for `domain`;
    # client/web/web.go routes <service>.<domain> only with the `subdomain` resolver.
    assert api["MICRO_API_NAMESPACE"] == "domain" and web["MICRO_WEB_NAMESPACE"] == "domain"
    assert web["MICRO_WEB_RESOLVER"] == "subdomain"
    # Defaults of v2.9.3: api :8080, web :8082, proxy :8081 speaking grpc (client/{api,web,proxy}).
    assert (api["MICRO_API_ADDRESS"], web["MICRO_WEB_ADDRESS"], proxy["MICRO_PROXY_ADDRESS"]) == (
        ":8080",
        ":8082",
        ":8081",
    )
    assert proxy["MICRO_PROXY_PROTOCOL"] == "grpc"
    for env in (api, web, proxy):
        assert "MICRO_SERVER_ADDRESS" not in env, "it would bind the internal RPC server onto the HTTP port"


def test_config_and_store_bind_a_fixed_port(stack: str) -> None:
    """Neither applies a default address in v2.9.3 (service/config/config.go has none; store.go never passes its
    :8002 to micro.NewService), so without MICRO_SERVER_ADDRESS they listen on a random port."""
    graph = stack_graph(stack)
    for service in ("config", "store"):
        env = literal_env(micro(graph, service))
        port = micro(graph, service)["ports"][0]["containerPort"]
        assert env["MICRO_SERVER_ADDRESS"] == f":{port}"
    (store,) = k8s(graph, "core/v1:Service", name="micro-store", namespace="server")
    assert store.inputs["spec"]["ports"][0]["port"] == 8002, "the runtime profile dials micro-store:8002"


# --- auth ---------------------------------------------------------------------------------------------------


def test_jwt_keys_reach_micro_base64_encoded_and_the_private_key_only_where_tokens_are_signed(stack: str) -> None:
    graph = stack_graph(stack)
    (jwt,) = k8s(graph, "cert-manager.io/v1:Certificate", namespace="server", name="micro-jwt")
    # go-micro v2's jwt token provider signs RS256 (auth/token/jwt): the key must be RSA.
    assert jwt.inputs["spec"]["privateKey"]["algorithm"] == "RSA"
    for service, row in SERVICES.items():
        container, spec = micro(graph, service), pod(graph, service)
        names = exported(container)
        volumes = {v["name"]: v for v in spec["volumes"]}
        if row.auth is Auth.none:
            assert not names and "jwt" not in volumes, f"micro-{service} takes no part in auth"
            continue
        assert volumes["jwt"]["secret"]["secretName"] == jwt.inputs["spec"]["secretName"]
        files = {item["path"] for item in volumes["jwt"]["secret"]["items"]}
        mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "jwt")
        script = container["command"][2].replace("$$(", "$(")  # the kubelet turns $$( into $(
        words = shlex.split(script.replace(";", " ; ").replace("$(", " ").replace(")", " "))
        if row.auth is Auth.issuer:
            assert files == {"tls.crt", "tls.key"} and names == ["MICRO_AUTH_PUBLIC_KEY", "MICRO_AUTH_PRIVATE_KEY"]
        else:
            assert files == {"tls.crt"} and names == ["MICRO_AUTH_PUBLIC_KEY"], f"micro-{service} must not sign"
        for file in files:
            # base64 of the mounted PEM, newlines dropped: what auth/token/jwt base64-decodes.
            assert f"{mount}/{file}" in words and "base64" in words, f"micro-{service}: {file} is not encoded"
        assert script.endswith('exec /micro "$@"') and container["args"] == [service]


# --- the store's client key ---------------------------------------------------------------------------------


def effective_mode(spec: dict[str, Any], container: dict[str, Any], path: str) -> tuple[int, int]:
    """(mode, owner uid) of the file at `path` as the container sees it.

    Secret volumes: the kubelet writes files with defaultMode, then for fsGroup ORs in group read
    (kubernetes pkg/volume/volume_linux.go: roMask 0440 on read-only volumes), owned by root. A file an init
    container writes into an emptyDir keeps the mode it was written with and its writer's uid.
    """
    mount = max((m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/")), key=len)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    if "secret" in volume:
        mode = volume["secret"].get("defaultMode", 0o644)
        if "fsGroup" in spec.get("securityContext", {}):
            mode |= 0o440
        return mode, 0
    writers = [c for c in spec.get("initContainers", []) if any(m["name"] == volume["name"] for m in c["volumeMounts"])]
    assert len(writers) == 1 and "emptyDir" in volume, f"{path} has no single writer"
    command = writers[0]["command"]
    assert command[:3] == ["install", "-m", command[2]] and command[-1] == path, command
    return int(command[2], 8), writers[0]["securityContext"]["runAsUser"]


def test_the_store_key_is_0600_and_owned_by_the_micro_user(stack: str) -> None:
    """lib/pq 1.3.0 refuses a key with any group or world bit (conn.go: `Perm()&0077 != 0`)."""
    graph = stack_graph(stack)
    for service, row in SERVICES.items():
        if Backend.store not in row.backends:
            continue
        container, spec = micro(graph, service), pod(graph, service)
        dsn = literal_env(container)["MICRO_STORE_ADDRESS"]
        params = dict(part.split("=", 1) for part in dsn.split("?", 1)[1].split("&"))
        assert params["sslmode"] == "verify-full" and "," not in dsn
        mode, owner = effective_mode(spec, container, params["sslkey"])
        assert mode & 0o077 == 0, f"micro-{service}: the key is {oct(mode)}, lib/pq refuses it"
        assert owner == container["securityContext"]["runAsUser"], f"micro-{service}: key owned by {owner}"
        for other in ("sslcert", "sslrootcert"):
            assert effective_mode(spec, container, params[other])[0] & 0o444, f"{other} unreadable"


def test_a_secret_mounted_key_would_be_refused() -> None:
    """The check above can fail: the same key straight from its Secret volume is group-readable."""
    spec = {
        "securityContext": {"fsGroup": 10001},
        "volumes": [{"name": "k", "secret": {"secretName": "s", "defaultMode": 0o400}}],
    }
    container = {"volumeMounts": [{"name": "k", "mountPath": "/certs"}]}
    assert effective_mode(spec, container, "/certs/tls.key")[0] & 0o077 == 0o040


# --- the runtime ---------------------------------------------------------------------------------------------

RUNTIME_CALLS = [
    # go-micro@94bd1025: runtime/kubernetes/{kubernetes,service}.go through util/kubernetes/client/client.go.
    ("apps", "deployments", "create"),
    ("apps", "deployments", "get"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("apps", "deployments", "patch"),
    ("apps", "deployments", "delete"),
    ("", "services", "create"),
    ("", "services", "patch"),
    ("", "services", "delete"),
    ("", "pods", "list"),
    ("", "pods/log", "get"),
    ("", "namespaces", "list"),
    ("", "namespaces", "create"),
]


def allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] and "*" not in r["verbs"]
        for r in rules
    )


def test_the_runtime_may_do_what_v2s_kubernetes_runtime_calls_and_no_more(stack: str) -> None:
    graph = stack_graph(stack)
    (role,) = k8s(graph, "rbac.authorization.k8s.io/v1:ClusterRole", name="micro-runtime")
    rules = role.inputs["rules"]
    for call in RUNTIME_CALLS:
        assert allows(rules, *call), f"the runtime cannot {call}"
    for forbidden in [("", "secrets", "get"), ("", "pods", "create"), ("rbac.authorization.k8s.io", "roles", "create")]:
        assert not allows(rules, *forbidden), f"the runtime may {forbidden}, which v2 never calls"
    env = literal_env(micro(graph, "runtime"))
    assert (env["MICRO_RUNTIME"], env["MICRO_RUNTIME_PROFILE"]) == ("kubernetes", "platform")


def test_only_the_runtime_mounts_a_service_account_token(stack: str) -> None:
    graph = stack_graph(stack)
    (binding,) = k8s(graph, "rbac.authorization.k8s.io/v1:ClusterRoleBinding", name="micro-runtime")
    for service in SERVICES:
        spec = pod(graph, service)
        if service == "runtime":
            assert spec["automountServiceAccountToken"] is True
            assert binding.inputs["subjects"] == [
                {"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "server"}
            ]
        else:
            assert spec["automountServiceAccountToken"] is False, f"micro-{service} needs no token"


def test_the_profile_addresses_user_services_dial_exist(stack: str) -> None:
    """micro/micro@e60b2cac:service/runtime/profile/profile.go gives user services <name>.default.svc:<port>."""
    graph = stack_graph(stack)
    for service, (host, port) in PROFILE_ADDRESSES.items():
        (alias,) = k8s(graph, "core/v1:Service", name=host, namespace="default")
        target_name, target_namespace = alias.inputs["spec"]["externalName"].split(".")[:2]
        (target,) = k8s(graph, "core/v1:Service", name=target_name, namespace=target_namespace)
        assert port in [p["port"] for p in target.inputs["spec"]["ports"]], f"{host}:{port} reaches no port"
        assert micro(graph, service)["ports"][0]["containerPort"] == port


# --- pods, fences, scale -------------------------------------------------------------------------------------


def test_probes_are_on_the_port_v2_serves(stack: str) -> None:
    graph = stack_graph(stack)
    for service in SERVICES:
        container = micro(graph, service)
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            port = container[probe]["tcpSocket"]["port"]
            assert named[port] == SERVICES[service].port, f"micro-{service} {probe} probes {port}"


def test_every_container_is_hardened(stack: str) -> None:
    graph = stack_graph(stack)
    for service in SERVICES:
        spec = pod(graph, service)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["enableServiceLinks"] is False
        for container in spec["containers"] + spec.get("initContainers", []):
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["runAsNonRoot"] is True
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["limits"]["memory"], f"micro-{service} {container['name']}"


def test_replicas_follow_the_environment_and_its_overrides(stack: str) -> None:
    graph = stack_graph(stack)
    micro_settings = load_stack(stack).environment.micro
    for service in SERVICES:
        replicas = deployment(graph, service).inputs["spec"]["replicas"]
        override = micro_settings.services.get(service)
        assert replicas == (override.replicas if override else micro_settings.replicas)
        budgets = k8s(graph, "policy/v1:PodDisruptionBudget", name=f"micro-{service}")
        assert len(budgets) == (1 if replicas > 1 else 0), f"micro-{service}: PDB with {replicas} replicas"


def test_only_the_edge_reaches_api_web_and_proxy_and_core_admits_server_and_user_services(stack: str) -> None:
    graph = stack_graph(stack)
    policies = {
        p.inputs["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name"): p.inputs["spec"]
        for p in k8s(graph, "networking.k8s.io/v1:NetworkPolicy", namespace="server")
    }
    assert policies[None] == {"podSelector": {}, "policyTypes": ["Ingress"]}, "default deny"
    for service, row in SERVICES.items():
        (rule,) = policies[f"micro-{service}"]["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": row.port}]
        namespaces = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for peer in rule["from"]
            if "namespaceSelector" in peer
        }
        if service in EDGE_SERVICES:
            assert namespaces == {"envoy-gateway-system"} and len(rule["from"]) == 1
        else:
            assert namespaces == {"default"} and {"podSelector": {}} in rule["from"]
