"""micro v2.9.3 on etcd, NATS and CockroachDB: one Deployment per core service, as micro ran it in May 2020.

Deploys the `server` namespace (Pod Security `restricted`); one MicroService per row of `micro_v2.SERVICES`, wired
exactly as that row says; client certificates for the datastore tunnels and CockroachDB and the JWT keypair, all
from the internal CA; the runtime's ServiceAccount and ClusterRole; ExternalName Services in `default` for the
addresses the runtime's `platform` profile gives user services; and NetworkPolicies that deny ingress to `server`
except from `server`, from user services (core services only) and, for api/web/proxy, from the edge.

Expects: the internal CA ClusterIssuer and the datastores' Endpoints (etcd and NATS behind ghostunnel servers that
admit CN `micro`; CockroachDB's certificate names its Endpoint host, which `sslmode=verify-full` checks). Leaves
out: a config encryption key (v2's config service has none) and user services in namespaces other than `default`
(`micro run --namespace`), which the NetworkPolicies do not admit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.kubernetes import tunnel
from components.kubernetes.contracts import EDGE_NAMESPACE, SERVER_NAMESPACE, Backend, Endpoint
from components.kubernetes.micro_service import (
    RUN_AS,
    MicroService,
    MicroServiceArgs,
    container_security,
    selector_labels,
    standard_labels,
)
from components.kubernetes.micro_v2 import (
    COMMON_ENV,
    EDGE_SERVICES,
    PROFILE_ADDRESSES,
    RUNTIME_RULES,
    SERVICES,
    USER_NAMESPACE,
    Auth,
    ServiceRow,
)
from components.kubernetes.micro_v2 import Backend as Uses
from components.kubernetes.objects import (
    ClusterRole,
    ClusterRoleBinding,
    Namespace,
    NetworkPolicy,
    Service,
    ServiceAccount,
)

RUNTIME_ACCOUNT = "micro-runtime"
JWT_SECRET = "micro-jwt"
"""The keypair every issuer signs with and every service verifies with (cert-manager writes tls.crt/tls.key)."""
JWT_DIR = "/etc/micro/jwt"
STORE_SECRET = "cockroach-client-tls"
STORE_SECRET_DIR = "/certs/store-secret"
"""The Secret as mounted: 0440 through fsGroup, which lib/pq refuses for the key."""
STORE_DIR = "/certs/store"
"""Memory emptyDir the init container copies the key into, 0600 and owned by the micro user."""
TUNNEL_SECRETS = {Uses.registry: "etcd-client-tls", Uses.broker: "nats-client-tls"}
STATUS_PORTS = {Uses.registry: 9101, Uses.broker: 9102}
"""ghostunnel /_status per tunnel, probed by the kubelet on the pod IP."""


@dataclass(frozen=True)
class MicroRuntimeArgs:
    image: str
    """Pinned micro v2 image (`repo:tag[@digest]`) for every service."""
    replicas: dict[str, int]
    """Replicas per service (cloud: at least 2, with PDBs and spreading)."""
    zones: list[str]
    """Zones of the region, to spread replicas over."""
    ca_issuer: pulumi.Input[str]
    """ClusterIssuer of the internal CA; it signs the client certificates and the JWT keypair."""
    registry: Endpoint
    """etcd, behind its ghostunnel server."""
    broker: Endpoint
    """NATS, behind its ghostunnel server."""
    store: Endpoint
    """CockroachDB; `client_user` is the SQL user and the client certificate's CN."""
    login_url: str | None
    """Where web sends people to log in (MICRO_AUTH_LOGIN_URL); None leaves web's default."""


class MicroRuntime(pulumi.ComponentResource):
    """micro v2's core services on Kubernetes."""

    backends: dict[str, Backend]
    """api, web and proxy, for the edge to route to."""

    def __init__(self, name: str, args: MicroRuntimeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:MicroRuntime", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        server = Namespace(f"{name}-namespace", metadata=namespace_metadata(), opts=child)
        namespace = server.object_name

        client_certs = {tunnel.CLIENT_CN: list(TUNNEL_SECRETS.values()), args.store.client_user: [STORE_SECRET]}
        for common_name, secrets in client_certs.items():
            for secret in secrets:
                CustomResource(
                    f"{name}-{secret}",
                    api_version="cert-manager.io/v1",
                    kind="Certificate",
                    metadata=_metadata(secret, namespace),
                    spec=client_certificate_spec(secret, common_name, args.ca_issuer),
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
        ClusterRole(f"{name}-runtime-role", metadata=_metadata(RUNTIME_ACCOUNT), rules=list(RUNTIME_RULES), opts=child)
        # Cluster-wide, because the runtime may create a namespace per user.
        ClusterRoleBinding(
            f"{name}-runtime-binding",
            metadata=_metadata(RUNTIME_ACCOUNT),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RUNTIME_ACCOUNT},
            subjects=[{"kind": "ServiceAccount", "name": RUNTIME_ACCOUNT, "namespace": SERVER_NAMESPACE}],
            opts=child,
        )

        services: dict[str, MicroService] = {}
        for service, row in SERVICES.items():
            volumes, mounts, init = pod_extras(row, args)
            services[service] = MicroService(
                f"{name}-{service}",
                MicroServiceArgs(
                    name=service,
                    namespace=namespace,
                    image=args.image,
                    port=row.port,
                    protocol=row.protocol,
                    replicas=args.replicas[service],
                    zones=args.zones,
                    env=service_env(service, args),
                    volumes=volumes,
                    mounts=mounts,
                    init_containers=init,
                    command=jwt_command(row.auth),
                    # Only the runtime talks to the Kubernetes API; every other pod mounts no token at all.
                    service_account=RUNTIME_ACCOUNT if Uses.kubernetes in row.backends else None,
                ),
                child,
            )

        for service, (host, port) in PROFILE_ADDRESSES.items():
            # The profile dials <host>.default.svc:<port>; a CNAME to the Service in `server` answers there.
            Service(
                f"{name}-{service}-profile-address",
                metadata=_metadata(host, USER_NAMESPACE),
                spec={
                    "type": "ExternalName",
                    "externalName": f"{services[service].service_name}.{SERVER_NAMESPACE}.svc.cluster.local",
                    "ports": [{"name": "grpc", "port": port, "protocol": "TCP"}],
                },
                opts=child,
            )

        NetworkPolicy(
            f"{name}-default-deny",
            metadata=_metadata("default-deny-ingress", namespace),
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=child,
        )
        for service, row in SERVICES.items():
            ports = [{"protocol": "TCP", "port": row.port}]
            NetworkPolicy(
                f"{name}-{service}-ingress",
                metadata=_metadata(f"micro-{service}-ingress", namespace),
                spec={
                    "podSelector": {"matchLabels": selector_labels(service)},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": ingress_peers(service), "ports": ports}],
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


def namespace_metadata() -> dict[str, Any]:
    return {
        "name": SERVER_NAMESPACE,
        "labels": {**standard_labels(SERVER_NAMESPACE), "pod-security.kubernetes.io/enforce": "restricted"},
    }


def service_env(name: str, args: MicroRuntimeArgs) -> list[dict[str, Any]]:
    """Env of service `name`, exactly its `SERVICES` row: common set, bind address, backends, auth, extras.

    etcd and NATS are reached through the pod's own tunnels on 127.0.0.1; CockroachDB directly, over TLS.
    """
    row = SERVICES[name]
    env = [_literal(key, value) for key, value in COMMON_ENV]
    env += [
        _literal("MICRO_REGISTRY_ADDRESS", f"127.0.0.1:{args.registry.port}"),
        _literal("MICRO_BROKER_ADDRESS", f"127.0.0.1:{args.broker.port}"),
        _literal(row.address_env, f":{row.port}"),
        *(_literal(key, value) for key, value in row.env),
    ]
    if Uses.store in row.backends:
        env += [_literal("MICRO_STORE", "cockroach"), _literal("MICRO_STORE_ADDRESS", store_dsn(args.store))]
    if row.auth is not Auth.none:
        # The keys themselves are exported by `jwt_command` from the mounted keypair.
        env.append(_literal("MICRO_AUTH", "jwt" if row.auth is Auth.issuer else "service"))
    if name == "web" and args.login_url is not None:
        env.append(_literal("MICRO_AUTH_LOGIN_URL", args.login_url))
    return env


def tunnel_of(backend: Uses, args: MicroRuntimeArgs) -> tunnel.Tunnel:
    """The client end of a datastore tunnel: 127.0.0.1:<port> in the pod, mutual TLS to the datastore's Endpoint."""
    endpoint = args.registry if backend is Uses.registry else args.broker
    return tunnel.Tunnel(backend.value, endpoint.port, endpoint.host, TUNNEL_SECRETS[backend], STATUS_PORTS[backend])


Containers = list[dict[str, Any]]


def pod_extras(row: ServiceRow, args: MicroRuntimeArgs) -> tuple[Containers, Containers, Containers]:
    """Volumes, micro's mounts and init containers for a row: the tunnels it needs, and the store key copy."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if row.auth is not Auth.none:
        # Issuers sign, so they get the private key; everyone else only the certificate that carries the public key.
        files = ["tls.crt", "tls.key"] if row.auth is Auth.issuer else ["tls.crt"]
        items = [{"key": key, "path": key} for key in files]
        volumes.append({"name": "jwt", "secret": {"secretName": JWT_SECRET, "defaultMode": 0o400, "items": items}})
        mounts.append({"name": "jwt", "mountPath": JWT_DIR, "readOnly": True})
    init: list[dict[str, Any]] = []
    if Uses.store in row.backends:
        volumes += [
            {"name": "store-secret", "secret": {"secretName": STORE_SECRET, "defaultMode": 0o400}},
            {"name": "store-key", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ]
        mounts += [
            {"name": "store-secret", "mountPath": STORE_SECRET_DIR, "readOnly": True},
            {"name": "store-key", "mountPath": STORE_DIR, "readOnly": True},
        ]
        init.append(store_key_copy(args.image))
    for backend in (Uses.registry, Uses.broker):
        if backend in row.backends:
            end = tunnel_of(backend, args)
            volumes.append(tunnel.certificate_volume(end))
            init.append(tunnel.client_sidecar(end, RUN_AS))
    return volumes, mounts, init


def jwt_command(auth: Auth) -> list[str] | None:
    """micro's entrypoint, with the JWT keys exported in the form v2 reads: base64 of the PEM, on one line.

    go-micro@94bd1025:auth/token/jwt/jwt.go base64-decodes MICRO_AUTH_{PUBLIC,PRIVATE}_KEY and parses them with
    jwt-go v3.2.0, whose ParseRSAPublicKeyFromPEM also takes a certificate (rsa_utils.go), so cert-manager's
    tls.crt and tls.key serve as they are. The key never leaves the cluster and never enters Pulumi state. The
    container's args stay `[<service>]`: they arrive as "$@". `$$(` is the kubelet's escape for a literal `$(`.
    """
    if auth is Auth.none:
        return None
    exports = ["MICRO_AUTH_PUBLIC_KEY=$$(base64 " + JWT_DIR + "/tls.crt | tr -d '\\n')"]
    if auth is Auth.issuer:
        exports.append("MICRO_AUTH_PRIVATE_KEY=$$(base64 " + JWT_DIR + "/tls.key | tr -d '\\n')")
    names = " ".join(export.split("=", 1)[0] for export in exports)
    return ["/bin/sh", "-c", "; ".join(exports) + f'; export {names}; exec /micro "$@"', "micro"]


def store_key_copy(image: str) -> dict[str, Any]:
    """lib/pq refuses a key with any group or world bit (`Perm()&0077 != 0`); the Secret volume gives 0440.

    busybox `install` (the micro image is alpine) writes an owner-only copy into a memory emptyDir, as the micro
    user, so the file micro reads is 0600 and owned by the process that reads it.
    """
    return {
        "name": "store-key",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["install", "-m", "0600", f"{STORE_SECRET_DIR}/tls.key", f"{STORE_DIR}/tls.key"],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "store-secret", "mountPath": STORE_SECRET_DIR, "readOnly": True},
            {"name": "store-key", "mountPath": STORE_DIR},
        ],
    }


def store_dsn(store: Endpoint) -> str:
    """CockroachDB over mutual TLS: the server's name is verified and the client proves `client_user`.

    One lib/pq URL with no commas (v2 splits MICRO_STORE_ADDRESS on commas and keeps the first entry).
    """
    if not store.client_user:
        raise ValueError(f"store endpoint {store.host} has no client_user; CockroachDB needs the SQL user")
    return (
        f"postgresql://{store.client_user}@{store.host}:{store.port}/micro?sslmode=verify-full"
        f"&sslrootcert={STORE_SECRET_DIR}/ca.crt&sslcert={STORE_SECRET_DIR}/tls.crt&sslkey={STORE_DIR}/tls.key"
    )


def client_certificate_spec(secret: str, common_name: str | None, issuer: pulumi.Input[str]) -> dict[str, Any]:
    """A cert-manager Certificate for TLS client authentication (raw CRD spec, camelCase)."""
    return {
        "secretName": secret,
        "commonName": common_name,
        "subject": {"organizations": ["m3o"]},
        # micro reads the store key once, at start (the tunnels reload theirs hourly): a year's lifetime renewed 90
        # days early leaves every routine rollout time to pick up the new pair.
        "duration": "8760h",
        "renewBefore": "2160h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["digital signature", "client auth"],
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def jwt_certificate_spec(issuer: pulumi.Input[str]) -> dict[str, Any]:
    """The keypair micro signs and checks its JWTs with; only the key matters, the certificate wraps it.

    RSA: go-micro v2's jwt token provider signs RS256 (go-micro@94bd1025:util/token/jwt). Its keys are base64 of
    the PEM, which `jwt_command` exports at start.
    """
    return {
        "secretName": JWT_SECRET,
        "commonName": "auth",
        "subject": {"organizations": ["m3o"]},
        # Ten years: a new key invalidates every token and account micro has issued.
        "duration": "87600h",
        "privateKey": {"algorithm": "RSA", "size": 4096, "rotationPolicy": "Always"},
        "usages": ["digital signature"],
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def ingress_peers(name: str) -> list[dict[str, Any]]:
    """Who may connect to service `name`.

    api, web and proxy: the edge only. Core services: `server` itself, and user services in `default`: with the
    platform profile they resolve every core service through the registry and call its pods directly.
    """
    if name in EDGE_SERVICES:
        return [_namespace_peer(EDGE_NAMESPACE)]
    return [{"podSelector": {}}, _namespace_peer(USER_NAMESPACE)]


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def _literal(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _metadata(name: str, namespace: pulumi.Input[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": standard_labels(name)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta
