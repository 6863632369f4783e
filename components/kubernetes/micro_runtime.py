"""The micro server: its core services, the edge-facing api, web and proxy, and what they need to run.

Deploys the `server` namespace (core services, Pod Security `restricted`) and the `micro` namespace (user
services, `baseline`); one MicroService per entry of SERVICES; client certificates for etcd, NATS and CockroachDB
and the JWT keypair, all issued by the internal CA; the runtime's ServiceAccount and ClusterRole; and
NetworkPolicies that deny ingress to `server` except from `server` itself and, for api/web/proxy, from the edge.

Expects: the internal CA ClusterIssuer and the datastores' Endpoints (their NetworkPolicies admit `server`, and
their server certificates name the Endpoint hosts, which `sslmode=verify-full` checks). Leaves out: a blob store
(the platform profile's runtime and store read MICRO_BLOB_STORE_*), tracing, Prometheus (pods carry scrape
annotations, but no policy admits a scraper yet) and MICRO_CONFIG_SECRET_KEY (see `service_env`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.kubernetes.contracts import EDGE_NAMESPACE, SERVER_NAMESPACE, USER_NAMESPACE, Backend, Endpoint
from components.kubernetes.micro_service import MicroService, MicroServiceArgs, selector_labels, standard_labels
from components.kubernetes.objects import (
    ClusterRole,
    ClusterRoleBinding,
    Namespace,
    NetworkPolicy,
    Secret,
    ServiceAccount,
)

PLATFORM = "platform"
CLIENT = "client"
RUNTIME_ACCOUNT = "micro-runtime"
CONFIG_KEY_SECRET = "micro-config-key"
"""Holds the config service's encryption key (from the stack's `configSecretKey`)."""
JWT_SECRET = "jwt-creds"
USER_NAMESPACE_LABEL = {"owner": "micro"}
"""micro's runtime admits traffic into the namespaces it manages only from namespaces carrying this label."""


@dataclass(frozen=True)
class ServiceSpec:
    """How one micro service runs."""

    port: int
    profile: str
    """platform: a core service with datastore access; client: an edge service that reaches everything through
    the network service."""
    protocol: str = "grpc"
    """Core services speak micro's gRPC transport; api and web serve HTTP."""
    args: tuple[str, ...] = ()
    """Container args; empty means ("service", <name>)."""
    env: tuple[tuple[str, str], ...] = ()
    """Service-specific env on top of `service_env`."""


SERVICES: dict[str, ServiceSpec] = {
    "network": ServiceSpec(8443, PLATFORM),
    "auth": ServiceSpec(8010, PLATFORM),
    "broker": ServiceSpec(8003, PLATFORM),
    # One port for container and Service: the 2020 YAML listened on 8001 but published 8081.
    "config": ServiceSpec(8081, PLATFORM),
    "events": ServiceSpec(8080, PLATFORM),
    "registry": ServiceSpec(8000, PLATFORM),
    "runtime": ServiceSpec(8088, PLATFORM),
    "store": ServiceSpec(8002, PLATFORM),
    # The history gives debug no port; 8089 is the first free one after runtime's 8088.
    "debug": ServiceSpec(8089, PLATFORM),
    "api": ServiceSpec(8080, CLIENT, "http", env=(("MICRO_API_RESOLVER", "subdomain"),)),
    "proxy": ServiceSpec(8081, CLIENT, "grpc"),
    "web": ServiceSpec(8082, CLIENT, "http", args=("web",)),
}
"""Every service of the micro server, by the name micro gives it."""
EDGE_SERVICES = ("api", "web", "proxy")
"""The services the edge exposes; only EDGE_NAMESPACE may reach them."""

NETWORK_ADDRESS = f"micro-network.{SERVER_NAMESPACE}.svc.cluster.local:{SERVICES['network'].port}"
"""MICRO_PROXY: every service but network sends its RPCs through the network service."""


@dataclass(frozen=True)
class ClientCert:
    """A client certificate for one datastore, mounted where micro's *_TLS_* variables look."""

    secret: str
    mount: str
    """Directory holding ca.crt, tls.crt and tls.key."""
    env_prefixes: tuple[str, ...]
    """MICRO_<prefix>_TLS_{CA,CERT,KEY} point into `mount`."""


CLIENT_CERTS: dict[str, ClientCert] = {
    "registry": ClientCert("etcd-client-tls", "/certs/registry", ("REGISTRY",)),
    # Events (NATS streaming) is the same NATS cluster, so it presents the same client certificate.
    "broker": ClientCert("nats-client-tls", "/certs/broker", ("BROKER", "EVENTS")),
    "store": ClientCert("cockroach-client-tls", "/certs/store", ("STORE",)),
}

RUNTIME_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "pods/log", "services", "secrets", "namespaces", "resourcequotas"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
    },
]
"""What micro's kubernetes runtime does: run user services (Deployments, Services, Secrets), create and fence their
namespaces (NetworkPolicies, ResourceQuotas) and stream their logs. Fixes against the history: `pods/logs` (a
resource that does not exist) dropped, `get` added on deployments, `networkpolicies` spelt in full."""


@dataclass(frozen=True)
class MicroRuntimeArgs:
    image: str
    """Pinned micro image (`repo:tag[@digest]`) for every service."""
    replicas: int
    """Replicas of every service (local 1, cloud 2 with PDBs and spreading)."""
    zones: Sequence[str]
    """Zones of the region, to spread replicas over."""
    ca_issuer: pulumi.Input[str]
    """ClusterIssuer of the internal CA; it signs the client certificates and the JWT keypair."""
    registry: Endpoint
    """etcd, micro's registry."""
    broker: Endpoint
    """NATS, micro's broker and events stream."""
    store: Endpoint
    """CockroachDB, micro's store; `client_user` is the SQL user and the client certificate's CN."""
    api_host: str
    """Public host of the api, which the web dashboard calls."""
    config_secret_key: pulumi.Input[str] | None = None
    """Key the config service encrypts secret values with (a Pulumi secret). Unset, each config pod makes its
    own under /tmp, and secret values written through one replica cannot be read through another."""


class MicroRuntime(pulumi.ComponentResource):
    """The micro server on Kubernetes."""

    backends: dict[str, Backend]
    """api, web and proxy, for the edge to route to."""

    def __init__(self, name: str, args: MicroRuntimeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:MicroRuntime", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        server = Namespace(
            f"{name}-server-namespace",
            metadata={
                "name": SERVER_NAMESPACE,
                "labels": {
                    **standard_labels(SERVER_NAMESPACE),
                    # The network service routes to user services; runtime-made policies admit only these.
                    **USER_NAMESPACE_LABEL,
                    "pod-security.kubernetes.io/enforce": "restricted",
                },
            },
            opts=child,
        )
        Namespace(
            f"{name}-user-namespace",
            metadata={
                "name": USER_NAMESPACE,
                # Users' code in the cells image: baseline, since it cannot be assumed to run non-root.
                "labels": {
                    **standard_labels(USER_NAMESPACE),
                    **USER_NAMESPACE_LABEL,
                    "pod-security.kubernetes.io/enforce": "baseline",
                },
            },
            opts=child,
        )
        namespace = server.object_name

        for store, cert in CLIENT_CERTS.items():
            # CockroachDB maps the certificate's CN to the SQL user; etcd and NATS only check the chain.
            common_name = args.store.client_user if store == "store" else "micro"
            CustomResource(
                f"{name}-{store}-client-cert",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata=_metadata(cert.secret, namespace),
                spec=client_certificate_spec(cert.secret, common_name, args.ca_issuer),
                opts=child,
            )
        CustomResource(
            f"{name}-jwt",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=_metadata(JWT_SECRET, namespace),
            spec=jwt_certificate_spec(args.ca_issuer),
            opts=child,
        )

        ServiceAccount(
            f"{name}-runtime-account",
            metadata=_metadata(RUNTIME_ACCOUNT, namespace),
            automountServiceAccountToken=True,
            opts=child,
        )
        ClusterRole(f"{name}-runtime-role", metadata=_metadata(RUNTIME_ACCOUNT), rules=RUNTIME_RULES, opts=child)
        # Cluster-wide, because the runtime creates a namespace per user; it already covers `server`, so the
        # history's extra RoleBinding there granted nothing and is left out.
        ClusterRoleBinding(
            f"{name}-runtime-binding",
            metadata=_metadata(RUNTIME_ACCOUNT),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RUNTIME_ACCOUNT},
            subjects=[{"kind": "ServiceAccount", "name": RUNTIME_ACCOUNT, "namespace": SERVER_NAMESPACE}],
            opts=child,
        )

        if args.config_secret_key is not None:
            Secret(
                f"{name}-config-key",
                metadata=_metadata(CONFIG_KEY_SECRET, namespace),
                stringData={"key": args.config_secret_key},
                opts=child,
            )
        volumes, mounts = cert_volumes()
        services: dict[str, MicroService] = {}
        for service, spec in SERVICES.items():
            platform = spec.profile == PLATFORM
            services[service] = MicroService(
                f"{name}-{service}",
                MicroServiceArgs(
                    name=service,
                    namespace=namespace,
                    image=args.image,
                    port=spec.port,
                    args=list(spec.args or ("service", service)),
                    replicas=args.replicas,
                    zones=args.zones,
                    env=service_env(
                        service,
                        args.registry,
                        args.broker,
                        args.store,
                        args.api_host,
                        config_key=args.config_secret_key is not None,
                    ),
                    volumes=volumes if platform else [],
                    mounts=mounts if platform else [],
                    service_account=RUNTIME_ACCOUNT if service == "runtime" else None,
                    protocol=spec.protocol,
                ),
                child,
            )

        NetworkPolicy(
            f"{name}-default-deny",
            metadata=_metadata("default-deny-ingress", namespace),
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=child,
        )
        for service, spec in SERVICES.items():
            NetworkPolicy(
                f"{name}-{service}-ingress",
                metadata=_metadata(f"micro-{service}-ingress", namespace),
                spec={
                    "podSelector": {"matchLabels": selector_labels(service)},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": ingress_peers(service), "ports": [{"protocol": "TCP", "port": spec.port}]}],
                },
                opts=child,
            )

        self.backends = {
            service: Backend(
                service=services[service].service_name,
                namespace=SERVER_NAMESPACE,
                port=services[service].port,
                protocol=services[service].protocol,
            )
            for service in EDGE_SERVICES
        }
        self.register_outputs({"backends": {key: asdict(backend) for key, backend in self.backends.items()}})


def service_env(
    name: str, registry: Endpoint, broker: Endpoint, store: Endpoint, api_host: str, config_key: bool = False
) -> list[dict[str, Any]]:
    """Env of service `name`. Pure: the whole contract between micro and its datastores.

    Platform services get the datastore addresses and their client certificates; client services (api, proxy,
    web) only reach the network service, so they get neither, and no MICRO_SERVICE_ADDRESS either (api binds
    its HTTP listener to :8080 itself; a second, RPC listener on the same port would fail to start).
    With `config_key`, the config service reads MICRO_CONFIG_SECRET_KEY from the `micro-config-key` Secret, so
    every replica decrypts what any replica encrypted.
    """
    spec = SERVICES[name]
    env: list[dict[str, Any]] = [
        {"name": "MICRO_PROFILE", "value": spec.profile},
        # The process runs as a uid with no passwd entry: Go's os/user then needs USER and HOME, and micro
        # creates ~/.micro at start, which must be writable (the /tmp emptyDir).
        {"name": "HOME", "value": "/tmp"},
        {"name": "USER", "value": "micro"},
        *({"name": key, "value": value} for key, value in spec.env),
    ]
    if name == "web":
        env.append({"name": "MICRO_API_ADDRESS", "value": f"https://{api_host}"})
    if spec.profile == PLATFORM:
        env += [
            {"name": "MICRO_SERVICE_NAME", "value": name},
            {"name": "MICRO_SERVICE_ADDRESS", "value": f":{spec.port}"},
            {"name": "MICRO_REGISTRY_ADDRESS", "value": registry.address},
            # micro's NATS broker adds nats:// itself.
            {"name": "MICRO_BROKER_ADDRESS", "value": broker.address},
            {"name": "MICRO_STORE_ADDRESS", "value": store_url(store)},
        ]
        for cert in CLIENT_CERTS.values():
            for prefix in cert.env_prefixes:
                env += [
                    {"name": f"MICRO_{prefix}_TLS_CA", "value": f"{cert.mount}/ca.crt"},
                    {"name": f"MICRO_{prefix}_TLS_CERT", "value": f"{cert.mount}/tls.crt"},
                    {"name": f"MICRO_{prefix}_TLS_KEY", "value": f"{cert.mount}/tls.key"},
                ]
    if name != "network":
        env.append({"name": "MICRO_PROXY", "value": NETWORK_ADDRESS})
    if name == "config" and config_key:
        env.append(_secret_env("MICRO_CONFIG_SECRET_KEY", CONFIG_KEY_SECRET, "key"))
    env += [
        _secret_env("MICRO_AUTH_PUBLIC_KEY", JWT_SECRET, "tls.crt"),
        _secret_env("MICRO_AUTH_PRIVATE_KEY", JWT_SECRET, "tls.key"),
    ]
    return env


def store_url(store: Endpoint) -> str:
    """CockroachDB over mutual TLS: the server's name is verified and the client proves `client_user`.

    Fixes against the history: `sslmode=require` (encrypts but trusts any server) becomes verify-full, and the
    relative `certs/store/...` paths (resolved against the working directory) become absolute.
    """
    if not store.client_user:
        raise ValueError(f"store endpoint {store.host} has no client_user; CockroachDB needs the SQL user")
    mount = CLIENT_CERTS["store"].mount
    return (
        f"postgresql://{store.client_user}@{store.host}:{store.port}/micro?sslmode=verify-full"
        f"&sslrootcert={mount}/ca.crt&sslcert={mount}/tls.crt&sslkey={mount}/tls.key"
    )


def cert_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes and read-only mounts of the three client certificates, for platform services."""
    volumes, mounts = [], []
    for store, cert in CLIENT_CERTS.items():
        # 0400: private keys are readable by the owner only (fsGroup makes that the micro user's group).
        volumes.append({"name": f"{store}-tls", "secret": {"secretName": cert.secret, "defaultMode": 0o400}})
        mounts.append({"name": f"{store}-tls", "mountPath": cert.mount, "readOnly": True})
    return volumes, mounts


def client_certificate_spec(secret: str, common_name: str | None, issuer: pulumi.Input[str]) -> dict[str, Any]:
    """A cert-manager Certificate for TLS client authentication (raw CRD spec, camelCase)."""
    return {
        "secretName": secret,
        "commonName": common_name,
        "subject": {"organizations": ["m3o"]},
        # micro reads the files once at start: a year's lifetime, renewed 90 days early, leaves every routine
        # rollout time to pick up the new pair before the old one expires.
        "duration": "8760h",
        "renewBefore": "2160h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        # ECDSA keys sign the handshake (digital signature); client auth limits the cert to the client side.
        "usages": ["digital signature", "client auth"],
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def jwt_certificate_spec(issuer: pulumi.Input[str]) -> dict[str, Any]:
    """The keypair micro signs and checks its JWTs with; only the key matters, the certificate wraps it."""
    return {
        "secretName": JWT_SECRET,
        "commonName": "auth",
        "subject": {"organizations": ["m3o"]},
        # Ten years: a new key invalidates every token and account secret micro has issued.
        "duration": "87600h",
        "privateKey": {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Always"},
        "usages": ["digital signature"],
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def ingress_peers(name: str) -> list[dict[str, Any]]:
    """Who may connect to service `name`: the edge for api/web/proxy, `server` for the core services.

    network also admits user services (the namespaces labelled USER_NAMESPACE_LABEL): they reach micro through
    it. api and proxy reach network from inside `server`.
    """
    if name in EDGE_SERVICES:
        return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": EDGE_NAMESPACE}}}]
    peers: list[dict[str, Any]] = [{"podSelector": {}}]
    if name == "network":
        peers.append({"namespaceSelector": {"matchLabels": USER_NAMESPACE_LABEL}})
    return peers


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _metadata(name: str, namespace: pulumi.Input[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": standard_labels(name)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta
