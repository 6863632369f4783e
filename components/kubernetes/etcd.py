"""etcd: micro's service registry, as a StatefulSet on the upstream image with mutual TLS.

Deploys, in namespace `etcd`: a StatefulSet of `members` voters, a headless peer Service
(`etcd-headless`), a client Service (`etcd-client`), server and peer certificates from the
internal CA, a PodDisruptionBudget when there is a quorum to protect, and a NetworkPolicy that
admits clients from `server` only.

Clients: micro v2 cannot speak TLS to etcd, so etcd's client listener is plaintext on the pod's
loopback only, and the pod's network-facing client port is a ghostunnel server that demands a
client certificate with CN `micro` (see tunnel.py). Peers keep etcd's own mutual TLS.

No chart: Bitnami's etcd chart is the only maintained one, and Bitnami froze its versioned images
on 2025-08-28 (moved to docker.io/bitnamilegacy, no further updates; bitnami/charts#35164). The
upstream image (gcr.io/etcd-development/etcd) with a StatefulSet written here is smaller than the
chart's value surface and keeps every security setting visible.

Expects: cert-manager and the internal CA ClusterIssuer. Leaves out: client certificates (the micro
runtime issues its own into `server`), backups (etcd holds only the service registry, which micro
services re-register every 30 s), and membership changes after bootstrap: `members` is read once,
at cluster creation; growing a running cluster needs `etcdctl member add` first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pulumi

from components.kubernetes import tunnel
from components.kubernetes.contracts import Endpoint
from components.kubernetes.datastore import (
    certificate_spec,
    certificates,
    container_security_context,
    datastore_labels,
    isolation_policy_spec,
    namespace_metadata,
    object_metadata,
    pod_security_context,
    resources,
    spread_constraints,
)
from components.kubernetes.objects import Namespace, NetworkPolicy, PodDisruptionBudget, Service, StatefulSet
from infra.config.model import Datastore

NAMESPACE = "etcd"
CLIENT_SERVICE = "etcd-client"
PEER_SERVICE = "etcd-headless"
CLIENT_PORT = 2379
PEER_PORT = 2380
METRICS_PORT = 2381
"""Plain-HTTP listener for /metrics, /livez and /readyz, so probes need no client certificate."""
TUNNEL_STATUS_PORT = 9101
"""The client tunnel's /_status, probed by the kubelet."""
SERVER_SECRET = "etcd-server-tls"
PEER_SECRET = "etcd-peer-tls"
CLUSTER_TOKEN = "micro-etcd"
"""Keeps members of this cluster from joining another etcd cluster by mistake."""
UID = 65532
"""The distroless `nonroot` user; etcd needs no privileges, only its data volume (via fsGroup)."""
DATA_DIR = "/var/lib/etcd"
TLS_DIR = "/etc/etcd/tls"
QUOTA_CEILING_GIB = 8
"""etcd's documented maximum backend size; a registry stays far below it."""


@dataclass(frozen=True)
class EtcdClusterArgs:
    image: str
    """Pinned upstream image, e.g. gcr.io/etcd-development/etcd:v3.6.4 (release.etcd in the environment)."""
    store: Datastore
    """Members, volume and resources. One member in kind; an odd number ≥ 3 in the cloud."""
    zones: list[str]
    """Zones of the region; with more than one member, members spread over at least this many zones."""
    ca_issuer: pulumi.Input[str]
    """ClusterIssuer (the internal CA) that signs the server and peer certificates."""


class EtcdCluster(pulumi.ComponentResource):
    endpoint: Endpoint
    """The client Service: etcd-client.etcd.svc.cluster.local:2379, mutual TLS with the internal CA."""

    def __init__(self, name: str, args: EtcdClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:EtcdCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        members = args.store.members

        ns = Namespace(f"{name}-namespace", metadata=namespace_metadata(NAMESPACE, "restricted"), opts=child)

        def metadata(object_name: str) -> dict[str, Any]:
            return object_metadata(object_name, ns.object_name, NAMESPACE)

        tls = certificates(
            name,
            ns.object_name,
            NAMESPACE,
            {
                "server": certificate_spec(SERVER_SECRET, server_dns_names(), args.ca_issuer),
                "peer": certificate_spec(PEER_SECRET, peer_dns_names(), args.ca_issuer),
            },
            child,
        )
        Service(
            f"{name}-headless-service",
            metadata=metadata(PEER_SERVICE),
            spec={
                "clusterIP": "None",
                # Peers must resolve each other before they are ready: readiness needs a quorum.
                "publishNotReadyAddresses": True,
                "selector": selector_labels(),
                "ports": [_service_port("client", CLIENT_PORT), _service_port("peer", PEER_PORT)],
            },
            opts=child,
        )
        Service(
            f"{name}-client-service",
            metadata=metadata(CLIENT_SERVICE),
            spec={
                "type": "ClusterIP",
                "selector": selector_labels(),
                "ports": [_service_port("client", CLIENT_PORT)],
            },
            opts=child,
        )
        StatefulSet(
            f"{name}-statefulset",
            metadata=metadata(NAMESPACE),
            spec=statefulset_spec(args.image, args.store, args.zones),
            # The pods mount the Secrets cert-manager writes for these Certificates; no data edge says so.
            opts=pulumi.ResourceOptions(parent=self, depends_on=tls),
        )
        if members > 1:
            PodDisruptionBudget(
                f"{name}-pdb",
                metadata=metadata(NAMESPACE),
                # One voluntary eviction at a time keeps a quorum of 3 (or 5) members.
                spec={"maxUnavailable": 1, "selector": {"matchLabels": selector_labels()}},
                opts=child,
            )
        NetworkPolicy(
            f"{name}-network-policy",
            metadata=metadata(NAMESPACE),
            spec=isolation_policy_spec(CLIENT_PORT, [PEER_PORT]),
            opts=child,
        )

        self.endpoint = endpoint()
        self.register_outputs({"endpoint": asdict(self.endpoint)})


def endpoint() -> Endpoint:
    """The client Service, behind the ghostunnel server: mutual TLS, CN `micro`."""
    return Endpoint(host=f"{CLIENT_SERVICE}.{NAMESPACE}.svc.cluster.local", port=CLIENT_PORT, namespace=NAMESPACE)


def client_tunnel() -> tunnel.Tunnel:
    """The server end of micro's registry tunnel, with etcd's server certificate."""
    return tunnel.Tunnel("registry", CLIENT_PORT, endpoint().host, SERVER_SECRET, TUNNEL_STATUS_PORT)


def selector_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAMESPACE, "app.kubernetes.io/component": "registry"}


def member_names(members: int) -> list[str]:
    return [f"{NAMESPACE}-{i}" for i in range(members)]


def peer_host(member: str) -> str:
    return f"{member}.{PEER_SERVICE}.{NAMESPACE}.svc.cluster.local"


def server_dns_names() -> list[str]:
    """Every name a client may dial: the client Service in all its forms, and each member directly."""
    return [
        CLIENT_SERVICE,
        f"{CLIENT_SERVICE}.{NAMESPACE}",
        f"{CLIENT_SERVICE}.{NAMESPACE}.svc",
        f"{CLIENT_SERVICE}.{NAMESPACE}.svc.cluster.local",
        f"*.{PEER_SERVICE}.{NAMESPACE}.svc.cluster.local",
        f"*.{PEER_SERVICE}.{NAMESPACE}.svc",
    ]


def peer_dns_names() -> list[str]:
    return [f"*.{PEER_SERVICE}.{NAMESPACE}.svc.cluster.local", f"*.{PEER_SERVICE}.{NAMESPACE}.svc"]


def quota_backend_bytes(storage_gb: int) -> int:
    """80% of the volume (room for compaction and defragmentation), at most etcd's 8 GiB ceiling."""
    return int(min(storage_gb * 0.8, QUOTA_CEILING_GIB) * 1024**3)


def etcd_flags(members: int, storage_gb: int) -> list[str]:
    """The etcd command line; `$(POD_NAME)` is expanded by the kubelet from the pod's own name."""
    peer = f"{TLS_DIR}/peer"
    initial_cluster = ",".join(f"{m}=https://{peer_host(m)}:{PEER_PORT}" for m in member_names(members))
    return [
        "--name=$(POD_NAME)",
        f"--data-dir={DATA_DIR}/data",
        f"--initial-cluster={initial_cluster}",
        # Read only when the data directory is empty; a restarted member rejoins from its WAL.
        "--initial-cluster-state=new",
        f"--initial-cluster-token={CLUSTER_TOKEN}",
        # Loopback only: the tunnel in front of it is the pod's client listener (mutual TLS on the pod IP).
        f"--listen-client-urls=http://127.0.0.1:{CLIENT_PORT}",
        f"--advertise-client-urls=https://{peer_host('$(POD_NAME)')}:{CLIENT_PORT}",
        f"--listen-peer-urls=https://0.0.0.0:{PEER_PORT}",
        f"--initial-advertise-peer-urls=https://{peer_host('$(POD_NAME)')}:{PEER_PORT}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={peer}/ca.crt",
        f"--peer-cert-file={peer}/tls.crt",
        f"--peer-key-file={peer}/tls.key",
        f"--listen-metrics-urls=http://0.0.0.0:{METRICS_PORT}",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1",  # hours of history kept; the registry needs none beyond watches
        f"--quota-backend-bytes={quota_backend_bytes(storage_gb)}",
    ]


def statefulset_spec(image: str, store: Datastore, zones: list[str]) -> dict[str, Any]:
    """The StatefulSet spec, as in a manifest."""
    labels = {**datastore_labels(NAMESPACE), **selector_labels()}
    probe = {"periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    container = {
        "name": "etcd",
        "image": image,
        "command": ["/usr/local/bin/etcd"],
        "args": etcd_flags(store.members, store.storage_gb),
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [
            {"name": "peer", "containerPort": PEER_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        # A member that has not yet found its peers is alive but not ready; give first start 5 minutes.
        "startupProbe": {"httpGet": {"path": "/livez", "port": "metrics"}, **probe, "failureThreshold": 30},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "metrics"}, **probe},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, **probe},
        "resources": resources(store),
        "securityContext": container_security_context(UID),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "peer-tls", "mountPath": f"{TLS_DIR}/peer", "readOnly": True},
        ],
    }
    return {
        "serviceName": PEER_SERVICE,
        "replicas": store.members,
        # All members must start together: none becomes ready until a quorum exists.
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate"},
        "selector": {"matchLabels": selector_labels()},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": pod_security_context(UID),
                "topologySpreadConstraints": spread_constraints(store.members, zones, selector_labels()),
                "containers": [container, tunnel.server_container(client_tunnel(), UID, port_name="client")],
                "volumes": [
                    tunnel.certificate_volume(client_tunnel()),
                    {"name": "peer-tls", "secret": {"secretName": PEER_SECRET, "defaultMode": 0o400}},
                ],
            },
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data", "labels": labels},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": store.storage_class,
                    "resources": {"requests": {"storage": f"{store.storage_gb}Gi"}},
                },
            }
        ],
    }


def _service_port(name: str, port: int) -> dict[str, Any]:
    return {"name": name, "port": port, "targetPort": name, "protocol": "TCP"}
