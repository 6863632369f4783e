"""micro v2.9.3's contract: what each service is started with, what it reads, what it needs.

Every value here is an upstream fact, cited by `repo@commit:path` (micro/micro@e60b2cac is the v2.9.3 tag, which
builds against micro/go-micro@94bd1025, v2.9.1). The components turn these rows into Deployments; the tests check
every Deployment against its row and every `MICRO_*` variable against `READS`. See
`../shared/reference/micro-v2-runtime.md` for the full account.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Backend(StrEnum):
    """A shared system a service talks to."""

    registry = "registry"
    """etcd (MICRO_REGISTRY=etcd): go-micro@94bd1025:registry/etcd, clientv3 3.3.18, no client TLS."""
    broker = "broker"
    """NATS (MICRO_BROKER=nats): go-micro@94bd1025:broker/nats, nats.go 1.9.2, no client certificates."""
    store = "store"
    """CockroachDB (MICRO_STORE=cockroach): go-micro@94bd1025:store/cockroach, lib/pq 1.3.0, TLS via the DSN."""
    kubernetes = "kubernetes"
    """The Kubernetes API (MICRO_RUNTIME=kubernetes): go-micro@94bd1025:runtime/kubernetes."""


class Auth(StrEnum):
    """How a service takes part in auth, as micro ran it (micro/micro@863df236:platform/kubernetes/network/*.yaml)."""

    issuer = "issuer"
    """MICRO_AUTH=jwt with the public and private key: it signs tokens itself. Every go-micro service generates its
    own account at start (go-micro@94bd1025:config/cmd/cmd.go, `authutil.Generate`), so with jwt it must sign."""
    edge = "edge"
    """MICRO_AUTH=service with the public key: accounts come from the auth service, tokens are only verified."""
    none = "none"
    """No MICRO_AUTH: micro's YAML gave network none; it relays RPCs and holds no accounts."""


@dataclass(frozen=True)
class ServiceRow:
    """One core service of micro v2.9.3."""

    port: int
    """The TCP port it serves (its RPC server, or HTTP for api and web)."""
    address_env: str
    """The variable that sets that port's bind address. `MICRO_SERVER_ADDRESS` for the RPC services: their
    subcommand's `--address` flag reads it. api, web and proxy have their own, and must NOT get
    MICRO_SERVER_ADDRESS: it also binds their internal RPC server, which would collide with the HTTP listener."""
    protocol: str
    """http (api, web), or grpc: go-micro v2's default transport and the proxy's default protocol."""
    backends: frozenset[Backend]
    auth: Auth
    source: str
    """Where the row's facts come from."""
    env: tuple[tuple[str, str], ...] = ()
    """Service-specific settings on top of the common set."""


_MICRO = "micro/micro@e60b2cac"
_ETCD_NATS = frozenset({Backend.registry, Backend.broker})
_WITH_STORE = _ETCD_NATS | {Backend.store}

SERVICES: dict[str, ServiceRow] = {
    # The edge. api resolves the apps wildcard: with MICRO_API_NAMESPACE=domain the subdomain becomes the namespace
    # (micro/micro@e60b2cac:internal/namespace/resolver.go; only micro.mu maps to go.micro, so api.<domain> resolves
    # to namespace `api`). MICRO_STORE=service as micro ran it (micro@0a691b39:platform/kubernetes/network/api.yaml).
    "api": ServiceRow(
        8080,
        "MICRO_API_ADDRESS",
        "http",
        _ETCD_NATS,
        Auth.edge,
        f"{_MICRO}:client/api/api.go (Address :8080, --address MICRO_API_ADDRESS, --namespace, --resolver)",
        (("MICRO_API_NAMESPACE", "domain"), ("MICRO_ENABLE_STATS", "true"), ("MICRO_STORE", "service")),
    ),
    # web routes <service>.<domain> to the service's own web handler (`subdomain`, client/web/web.go:286).
    "web": ServiceRow(
        8082,
        "MICRO_WEB_ADDRESS",
        "http",
        _ETCD_NATS,
        Auth.edge,
        f"{_MICRO}:client/web/web.go (Address :8082, MICRO_WEB_NAMESPACE, MICRO_WEB_RESOLVER, MICRO_AUTH_LOGIN_URL)",
        (("MICRO_WEB_NAMESPACE", "domain"), ("MICRO_WEB_RESOLVER", "subdomain")),
    ),
    "proxy": ServiceRow(
        8081,
        "MICRO_PROXY_ADDRESS",
        "grpc",
        _ETCD_NATS,
        Auth.edge,
        f"{_MICRO}:client/proxy/proxy.go (Address :8081, Protocol grpc, MICRO_PROXY_ADDRESS, MICRO_PROXY_PROTOCOL)",
        (("MICRO_PROXY_PROTOCOL", "grpc"),),
    ),
    # network's --address (MICRO_NETWORK_ADDRESS) is its QUIC tunnel on :8085/udp, inside the cluster only; its RPC
    # server takes the global MICRO_SERVER_ADDRESS, which micro ran on 8080 and the runtime profile dials.
    "network": ServiceRow(
        8080,
        "MICRO_SERVER_ADDRESS",
        "grpc",
        _ETCD_NATS,
        Auth.none,
        f"{_MICRO}:service/network/network.go; service/runtime/profile/profile.go (micro-network.default.svc:8080)",
        (("MICRO_NETWORK_ADVERTISE_STRATEGY", "best"),),
    ),
    "auth": ServiceRow(
        8010, "MICRO_SERVER_ADDRESS", "grpc", _WITH_STORE, Auth.issuer, f"{_MICRO}:service/auth/auth.go (:8010)"
    ),
    # config sets no address of its own: without MICRO_SERVER_ADDRESS its port is random.
    "config": ServiceRow(
        8080, "MICRO_SERVER_ADDRESS", "grpc", _WITH_STORE, Auth.issuer, f"{_MICRO}:service/config/config.go (none)"
    ),
    "debug": ServiceRow(
        8089, "MICRO_SERVER_ADDRESS", "grpc", _ETCD_NATS, Auth.issuer, f"{_MICRO}:service/debug/debug.go (:8089)"
    ),
    "registry": ServiceRow(
        8000, "MICRO_SERVER_ADDRESS", "grpc", _ETCD_NATS, Auth.issuer, f"{_MICRO}:service/registry/registry.go (:8000)"
    ),
    "broker": ServiceRow(
        8001, "MICRO_SERVER_ADDRESS", "grpc", _ETCD_NATS, Auth.issuer, f"{_MICRO}:service/broker/broker.go (:8001)"
    ),
    # store declares :8002 but never passes it to micro.NewService: without MICRO_SERVER_ADDRESS its port is random.
    "store": ServiceRow(
        8002, "MICRO_SERVER_ADDRESS", "grpc", _WITH_STORE, Auth.issuer, f"{_MICRO}:service/store/store.go (unused)"
    ),
    "router": ServiceRow(
        8084, "MICRO_SERVER_ADDRESS", "grpc", _ETCD_NATS, Auth.issuer, f"{_MICRO}:service/router/router.go (:8084)"
    ),
    # The kubernetes runtime launches user services with the `platform` profile's fixed addresses.
    "runtime": ServiceRow(
        8088,
        "MICRO_SERVER_ADDRESS",
        "grpc",
        _WITH_STORE | {Backend.kubernetes},
        Auth.issuer,
        f"{_MICRO}:service/runtime/runtime.go (:8088, MICRO_RUNTIME_PROFILE)",
        (("MICRO_RUNTIME", "kubernetes"), ("MICRO_RUNTIME_PROFILE", "platform")),
    ),
}
"""The twelve core services, by the name `micro <name>` runs them under."""

EDGE_SERVICES = ("api", "web", "proxy")
"""What the public edge routes to: api on 8080 (and the apps wildcard), web on 8082, proxy on 8081 (gRPC)."""

COMMON_ENV: tuple[tuple[str, str], ...] = (
    ("MICRO_REGISTRY", "etcd"),
    ("MICRO_BROKER", "nats"),
    # Default true: every process POSTs usage to go.micro.mu (micro/micro@e60b2cac:cmd/cmd.go, --report_usage).
    ("MICRO_REPORT_USAGE", "false"),
)
"""Set on every service; the addresses follow from where the datastores are reached."""

PROFILE_ADDRESSES: dict[str, tuple[str, int]] = {
    "auth": ("micro-auth", 8010),
    "network": ("micro-network", 8080),
    "registry": ("micro-registry", 8000),
    "runtime": ("micro-runtime", 8088),
    "store": ("micro-store", 8002),
}
"""What the runtime's `platform` profile injects into every user service it launches, as
`<name>.default.svc:<port>` (micro/micro@e60b2cac:service/runtime/profile/profile.go). Two of its entries are typos
upstream and reach nothing: MICRO_BROKER_ADDRESS=micro-store:8001 and MICRO_ROUTER_ADDRESS=micro-runtime:8084."""
USER_NAMESPACE = "default"
"""Where v2's kubernetes runtime creates user services unless told otherwise
(micro/go-micro@94bd1025:util/kubernetes/client/client.go, DefaultNamespace)."""

RUNTIME_RULES: tuple[dict[str, list[str]], ...] = (
    {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["create", "get", "list", "watch", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["services"], "verbs": ["create", "get", "list", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "create"]},
)
"""What v2's kubernetes runtime calls, and nothing more: go-micro@94bd1025:util/kubernetes/client/client.go maps
Create→POST, Get, Update→PATCH, Delete, List and Watch onto the kinds runtime/kubernetes/{kubernetes,service}.go
use (deployment, service, pod and its log, namespace)."""

SERVER_PORTS: dict[str, int] = {
    "api": 8080,
    "proxy": 8081,
    "web": 8082,
    "registry": 8000,
    "broker": 8001,
    "auth": 8010,
    "router": 8084,
    "runtime": 8088,
    "debug": 8089,
    "server": 10001,
}
"""`micro server` (zero-dependency mode): every service a child process on its default port, in one network
namespace (micro/micro@e60b2cac:server/server.go; observed with the v2.9.3 binary, micro-v2-runtime.md §5)."""

READS: frozenset[str] = frozenset(
    {
        "MICRO_ACME_HOSTS",
        "MICRO_ACME_PROVIDER",
        "MICRO_ADDRESS",
        "MICRO_API_ADDRESS",
        "MICRO_API_ENABLE_CORS",
        "MICRO_API_ENABLE_RPC",
        "MICRO_API_HANDLER",
        "MICRO_API_NAMESPACE",
        "MICRO_API_RESOLVER",
        "MICRO_API_TYPE",
        "MICRO_AUTH",
        "MICRO_AUTH_ID",
        "MICRO_AUTH_LOGIN_URL",
        "MICRO_AUTH_NAMESPACE",
        "MICRO_AUTH_PRIVATE_KEY",
        "MICRO_AUTH_PROVIDER",
        "MICRO_AUTH_PROVIDER_CLIENT_ID",
        "MICRO_AUTH_PROVIDER_CLIENT_SECRET",
        "MICRO_AUTH_PROVIDER_ENDPOINT",
        "MICRO_AUTH_PROVIDER_REDIRECT",
        "MICRO_AUTH_PROVIDER_SCOPE",
        "MICRO_AUTH_PUBLIC_KEY",
        "MICRO_AUTH_SECRET",
        "MICRO_AUTO_UPDATE",
        "MICRO_BOT_INPUTS",
        "MICRO_BOT_NAMESPACE",
        "MICRO_BROKER",
        "MICRO_BROKER_ADDRESS",
        "MICRO_CLIENT",
        "MICRO_CLIENT_POOL_SIZE",
        "MICRO_CLIENT_POOL_TTL",
        "MICRO_CLIENT_REQUEST_TIMEOUT",
        "MICRO_CLIENT_RETRIES",
        "MICRO_CONFIG",
        "MICRO_CONFIG_NAMESPACE",
        "MICRO_CONFIG_WATCH_TOPIC",
        "MICRO_DEBUG_PROFILE",
        "MICRO_DEBUG_WINDOW",
        "MICRO_DISCORD_PREFIX",
        "MICRO_DISCORD_TOKEN",
        "MICRO_DISCORD_WHITELIST",
        "MICRO_ENABLE_ACME",
        "MICRO_ENABLE_STATS",
        "MICRO_ENABLE_TLS",
        "MICRO_ENV",
        "MICRO_GATEWAY_ADDRESS",
        "MICRO_HEALTH_ADDRESS",
        "MICRO_HEALTH_CHECK_ADDRESS",
        "MICRO_HEALTH_CHECK_SERVICE",
        "MICRO_LOG_LEVEL",
        "MICRO_METADATA",
        "MICRO_NAMESPACE",
        "MICRO_NETWORK",
        "MICRO_NETWORK_ADDRESS",
        "MICRO_NETWORK_ADVERTISE",
        "MICRO_NETWORK_ADVERTISE_STRATEGY",
        "MICRO_NETWORK_DNS_ADVERTISE_ADDRESS",
        "MICRO_NETWORK_DNS_ADVERTISE_DOMAIN",
        "MICRO_NETWORK_DNS_ADVERTISE_TOKEN",
        "MICRO_NETWORK_DNS_API_TOKEN",
        "MICRO_NETWORK_DNS_PROVIDER",
        "MICRO_NETWORK_DNS_REMOVE_ADDRESS",
        "MICRO_NETWORK_DNS_REMOVE_DOMAIN",
        "MICRO_NETWORK_DNS_REMOVE_TOKEN",
        "MICRO_NETWORK_DNS_RESOLVE_DOMAIN",
        "MICRO_NETWORK_DNS_RESOLVE_TOKEN",
        "MICRO_NETWORK_DNS_RESOLVE_TYPE",
        "MICRO_NETWORK_DNS_TOKEN",
        "MICRO_NETWORK_DNS_ZONE_ID",
        "MICRO_NETWORK_GATEWAY",
        "MICRO_NETWORK_NAME",
        "MICRO_NETWORK_NODES",
        "MICRO_NETWORK_RESOLVER",
        "MICRO_NETWORK_TOKEN",
        "MICRO_OUTPUT",
        "MICRO_PLUGIN",
        "MICRO_PROXY",
        "MICRO_PROXY_ADDRESS",
        "MICRO_PROXY_ENDPOINT",
        "MICRO_PROXY_PROTOCOL",
        "MICRO_REGISTER_INTERVAL",
        "MICRO_REGISTER_TTL",
        "MICRO_REGISTRY",
        "MICRO_REGISTRY_ADDRESS",
        "MICRO_REPORT_USAGE",
        "MICRO_ROUTER",
        "MICRO_ROUTER_ADDRESS",
        "MICRO_ROUTER_ADVERTISE_STRATEGY",
        "MICRO_RUNTIME",
        "MICRO_RUNTIME_PROFILE",
        "MICRO_RUNTIME_RETRIES",
        "MICRO_RUNTIME_SOURCE",
        "MICRO_SELECTOR",
        "MICRO_SERVER",
        "MICRO_SERVER_ADDRESS",
        "MICRO_SERVER_ADVERTISE",
        "MICRO_SERVER_ID",
        "MICRO_SERVER_METADATA",
        "MICRO_SERVER_NAME",
        "MICRO_SERVER_VERSION",
        "MICRO_SERVICE_ADDRESS",
        "MICRO_SERVICE_ENDPOINT",
        "MICRO_SERVICE_METADATA",
        "MICRO_SERVICE_NAME",
        "MICRO_SLACK_DEBUG",
        "MICRO_SLACK_TOKEN",
        "MICRO_SNAPSHOT_DESTINATION",
        "MICRO_STORE",
        "MICRO_STORE_ADDRESS",
        "MICRO_STORE_DATABASE",
        "MICRO_STORE_FROM",
        "MICRO_STORE_FROM_DATABASE",
        "MICRO_STORE_FROM_NODES",
        "MICRO_STORE_FROM_TABLE",
        "MICRO_STORE_NODES",
        "MICRO_STORE_TABLE",
        "MICRO_STORE_TO",
        "MICRO_STORE_TO_DATABASE",
        "MICRO_STORE_TO_NODES",
        "MICRO_STORE_TO_TABLE",
        "MICRO_TELEGRAM_DEBUG",
        "MICRO_TELEGRAM_TOKEN",
        "MICRO_TELEGRAM_WHITELIST",
        "MICRO_TLS_CERT_FILE",
        "MICRO_TLS_CLIENT_CA_FILE",
        "MICRO_TLS_KEY_FILE",
        "MICRO_TRACER",
        "MICRO_TRACER_ADDRESS",
        "MICRO_TRANSPORT",
        "MICRO_TRANSPORT_ADDRESS",
        "MICRO_TUNNEL_ADDRESS",
        "MICRO_TUNNEL_ID",
        "MICRO_TUNNEL_SERVER",
        "MICRO_TUNNEL_TOKEN",
        "MICRO_UPDATE_URL",
        "MICRO_WEB_ADDRESS",
        "MICRO_WEB_HOST",
        "MICRO_WEB_NAMESPACE",
        "MICRO_WEB_RESOLVER",
    }
)
"""Every MICRO_* variable micro v2.9.3 reads: the `EnvVars` and `os.Getenv` names in micro/micro@e60b2cac and
micro/go-micro@94bd1025 (`git grep -ohE '"MICRO_[A-Z0-9_]+"' -- '*.go'`). Anything else is ignored by v2, so a
variable outside this set is a mistake (most often a v3 name)."""
