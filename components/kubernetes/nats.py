"""NATS with JetStream: micro's broker and events, from the upstream nats-io chart.

Deploys, in namespace `nats`: the `nats` chart (StatefulSet `nats`, client Service `nats`, headless
Service `nats-headless`, PodDisruptionBudget), a client-facing certificate (`nats-server-tls`) and a
route certificate (`nats-cluster-tls`) from the internal CA, and a NetworkPolicy that admits
clients from `server` only.

Clients: micro v2 (nats.go 1.9.2) has no client certificates, and NATS negotiates TLS inside its
own protocol, which no TCP tunnel can originate. So NATS listens for clients in plaintext on the
pod's loopback only, and the pod's client port is a ghostunnel server that demands a client
certificate with CN `micro` (see tunnel.py). Routes between members keep NATS's own mutual TLS.

helm.v4.Chart rather than helm.v3.Release: the chart's only hook is a test pod, which v4 skips and
nobody misses, and in return every rendered object is its own Pulumi resource, so a preview shows
per-object diffs and policy packs can check each StatefulSet and Service.

Expects: cert-manager and the internal CA ClusterIssuer. Leaves out: client certificates (the micro
runtime issues its own into `server`), nats-box, and NATS accounts/auth beyond mutual TLS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.helm.v4 import Chart, ChartArgs, RepositoryOptsArgs

from components.kubernetes import tunnel
from components.kubernetes.contracts import Endpoint
from components.kubernetes.datastore import (
    certificate_spec,
    certificates,
    container_security_context,
    isolation_policy_spec,
    namespace_metadata,
    object_metadata,
    pod_security_context,
    resources,
    spread_constraints,
)
from components.kubernetes.objects import Namespace, NetworkPolicy
from infra.config.model import Datastore

REPOSITORY = "https://nats-io.github.io/k8s/helm/charts/"
NAMESPACE = "nats"
FULLNAME = "nats"
"""fullnameOverride: the StatefulSet, the client Service and the `nats-headless` Service take this name."""
HEADLESS_SERVICE = f"{FULLNAME}-headless"
CLIENT_PORT = 4222
CLUSTER_PORT = 6222
MONITOR_PORT = 8222
SERVER_SECRET = "nats-server-tls"
CLUSTER_SECRET = "nats-cluster-tls"
CERTS_DIR = "/etc/nats-certs"
TUNNEL_STATUS_PORT = 9102
"""The client tunnel's /_status, probed by the kubelet."""
UID = 1000
"""NATS needs no privileges; the JetStream volume is writable through fsGroup."""
SIDECAR_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}
"""The config reloader and the Prometheus exporter: small, steady processes."""


@dataclass(frozen=True)
class NatsClusterArgs:
    version: str
    """Chart version (release.charts.nats); since 2.12 it equals the NATS server version."""
    store: Datastore
    """Members, JetStream volume and resources. One member (no routes) in kind; 3 in the cloud."""
    zones: list[str]
    """Zones of the region; with more than one member, members spread over at least this many zones."""
    ca_issuer: pulumi.Input[str]
    """ClusterIssuer (the internal CA) that signs the server and route certificates."""
    enabled: bool = True
    """False leaves out the chart (offline renders); the namespace, certificates and policy stay."""


class NatsCluster(pulumi.ComponentResource):
    endpoint: Endpoint
    """The client Service: nats.nats.svc.cluster.local:4222, mutual TLS with the internal CA."""

    def __init__(self, name: str, args: NatsClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:NatsCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # restricted: every pod of the pinned chart (server, reloader, box) passes it with these values (rendered
        # at 2.14.2 and admitted by a Kubernetes 1.34 API server, charts-review). A chart bump that adds an
        # unhardened container fails at admission instead of running unhardened.
        ns = Namespace(f"{name}-namespace", metadata=namespace_metadata(NAMESPACE, "restricted"), opts=child)

        tls = certificates(
            name,
            ns.object_name,
            NAMESPACE,
            {
                "server": certificate_spec(SERVER_SECRET, server_dns_names(), args.ca_issuer, ("server auth",)),
                # Routes are mutual: each member is the client of the others.
                "cluster": certificate_spec(
                    CLUSTER_SECRET, route_dns_names(), args.ca_issuer, ("server auth", "client auth")
                ),
            },
            child,
        )
        NetworkPolicy(
            f"{name}-network-policy",
            metadata=object_metadata(NAMESPACE, ns.object_name, NAMESPACE),
            spec=isolation_policy_spec(CLIENT_PORT, [CLUSTER_PORT]),
            opts=child,
        )
        if args.enabled:
            Chart(
                f"{name}-chart",
                ChartArgs(
                    chart="nats",
                    version=args.version,
                    repository_opts=RepositoryOptsArgs(repo=REPOSITORY),
                    name=FULLNAME,
                    namespace=ns.object_name,
                    values=nats_values(args.store, args.zones),
                ),
                # The pods mount the Secrets cert-manager writes for these Certificates; no data edge says so.
                pulumi.ResourceOptions(parent=self, depends_on=tls),
            )

        self.endpoint = endpoint()
        self.register_outputs({"endpoint": asdict(self.endpoint)})


def endpoint() -> Endpoint:
    """The client Service, behind the ghostunnel server: mutual TLS, CN `micro`."""
    return Endpoint(host=f"{FULLNAME}.{NAMESPACE}.svc.cluster.local", port=CLIENT_PORT, namespace=NAMESPACE)


def client_tunnel() -> tunnel.Tunnel:
    """The server end of micro's broker tunnel, with NATS's server certificate."""
    return tunnel.Tunnel("broker", CLIENT_PORT, endpoint().host, SERVER_SECRET, TUNNEL_STATUS_PORT)


def server_dns_names() -> list[str]:
    """The client Service in all its forms, and each member (clients learn members from INFO)."""
    return [
        FULLNAME,
        f"{FULLNAME}.{NAMESPACE}",
        f"{FULLNAME}.{NAMESPACE}.svc",
        f"{FULLNAME}.{NAMESPACE}.svc.cluster.local",
        f"*.{HEADLESS_SERVICE}.{NAMESPACE}.svc.cluster.local",
    ]


def route_dns_names() -> list[str]:
    """The chart dials routes as `nats-N.nats-headless`; the longer forms cover FQDN routes."""
    return [
        f"*.{HEADLESS_SERVICE}",
        f"*.{HEADLESS_SERVICE}.{NAMESPACE}",
        f"*.{HEADLESS_SERVICE}.{NAMESPACE}.svc",
        f"*.{HEADLESS_SERVICE}.{NAMESPACE}.svc.cluster.local",
    ]


def tls_values(protocol: str, secret: str) -> dict[str, Any]:
    """The chart's TLS block for `protocol` (nats or cluster): mount `secret`, trust and require its CA.

    cert-manager writes the CA as ca.crt next to the key pair, so the CA file sits in the same mount.
    """
    directory = f"{CERTS_DIR}/{protocol}"
    return {
        "enabled": True,
        "secretName": secret,
        "dir": directory,
        "cert": "tls.crt",
        "key": "tls.key",
        "merge": {"ca_file": f"{directory}/ca.crt", "verify": True},
    }


def nats_values(store: Datastore, zones: list[str]) -> dict[str, Any]:
    """Values for the nats chart 2.x (`config.*` layout, `merge` escape hatches)."""
    clustered = store.members > 1
    sidecar = {"resources": SIDECAR_RESOURCES, "securityContext": container_security_context(UID)}
    return {
        "fullnameOverride": FULLNAME,
        "config": {
            "cluster": {
                # One member has no routes; JetStream then runs unreplicated (kind only).
                "enabled": clustered,
                "replicas": store.members,
                "port": CLUSTER_PORT,
                "tls": tls_values("cluster", CLUSTER_SECRET),
                "merge": {"host": "0.0.0.0"},
            },
            # Plaintext, loopback only: the tunnel on the pod IP is the client listener. Clients learn no other
            # addresses from INFO (no_advertise), so they stay on the tunnel.
            "nats": {"port": CLIENT_PORT, "tls": {"enabled": False}},
            "jetstream": {
                "enabled": True,
                "fileStore": {
                    "enabled": True,
                    "pvc": {"enabled": True, "size": f"{store.storage_gb}Gi", "storageClassName": store.storage_class},
                },
            },
            # Plain HTTP inside the pod: the probes and the exporter read it; the NetworkPolicy admits no one.
            "monitor": {"enabled": True, "port": MONITOR_PORT},
            # `host` binds the client listener; monitor and routes default to it, so they are set apart
            # (nats-io/nats-server:server/opts.go processOptions: HTTPHost defaults to Host).
            "merge": {"host": "127.0.0.1", "http_host": "0.0.0.0", "no_advertise": True},
        },
        "container": {"merge": {**sidecar, "resources": resources(store)}},
        "reloader": {"enabled": True, "merge": sidecar},
        "promExporter": {"enabled": True, "merge": sidecar},
        "podTemplate": {
            # The chart turns this map (keyed by topologyKey) into constraints and adds the label selector.
            "topologySpreadConstraints": {
                constraint["topologyKey"]: {
                    k: v for k, v in constraint.items() if k not in ("topologyKey", "labelSelector")
                }
                for constraint in spread_constraints(store.members, zones, {})
            },
            "merge": {
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security_context(UID),
                }
            },
            # The chart has no extra-container value; its JSON patches are applied after merge.
            "patch": [
                {"op": "add", "path": "/spec/containers/-", "value": tunnel.server_container(client_tunnel(), UID)},
                {"op": "add", "path": "/spec/volumes/-", "value": tunnel.certificate_volume(client_tunnel())},
            ],
        },
        "serviceAccount": {"enabled": False},
        # maxUnavailable 1 in the chart; a single member has no quorum to protect.
        "podDisruptionBudget": {"enabled": clustered},
        # nats-box is an interactive debugging pod with client credentials: it does not belong in production.
        "natsBox": {"enabled": False},
    }
