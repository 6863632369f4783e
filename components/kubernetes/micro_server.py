"""The seed's zero-dependency micro: `micro server` in one pod, on mDNS, the HTTP broker and the bbolt file store.

`micro server` starts every core service as a child process (micro/micro@e60b2cac:server/server.go), so they share
the pod's network namespace: mDNS finds them on the pod's interface (the default route carries 224.0.0.0/4) and
the HTTP broker posts to their own addresses. The store is bbolt under $TMPDIR/micro/store
(micro/go-micro@94bd1025:store/file/file.go), on a volume so that it outlives the pod.

Deploys the `server` namespace (Pod Security `restricted`), the volume, one Deployment `micro-server`, the
Services `micro-api`, `micro-web` and `micro-proxy` that the edge routes to, and NetworkPolicies that admit only
the edge. Expects: a default-capable StorageClass named in `file_store` (kind's `standard`). Leaves out: etcd,
NATS and CockroachDB, by design; replicas (one writer per bbolt file); auth keys (v2's server runs the services
with their default auth, and api, web and proxy with MICRO_AUTH=service, as `micro server` sets it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pulumi

from components.kubernetes.contracts import EDGE_NAMESPACE, SERVER_NAMESPACE, Backend
from components.kubernetes.micro_runtime import namespace_metadata
from components.kubernetes.micro_service import (
    TMP,
    micro_container,
    pod_security,
    selector_labels,
    service_port,
    standard_labels,
)
from components.kubernetes.micro_v2 import EDGE_SERVICES, SERVER_PORTS, SERVICES
from components.kubernetes.objects import (
    Deployment,
    Namespace,
    NetworkPolicy,
    PersistentVolumeClaim,
    Service,
    ServiceAccount,
)
from infra.config.model import FileStore

NAME = "micro-server"
DATA_DIR = "/data"
"""TMPDIR: the file store writes to $TMPDIR/micro/store/<database>/<table>.db."""
SERVER_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
"""Fourteen micro processes in one container."""
ZERO_DEPENDENCY_ENV: tuple[tuple[str, str], ...] = (
    # go-micro's defaults, written out (micro/go-micro@94bd1025:config/cmd/cmd.go); `micro server` also sets
    # MICRO_STORE=file for its children, but only when the variable is unset.
    ("MICRO_REGISTRY", "mdns"),
    ("MICRO_BROKER", "http"),
    ("MICRO_STORE", "file"),
    ("MICRO_REPORT_USAGE", "false"),
    ("TMPDIR", DATA_DIR),
)


@dataclass(frozen=True)
class MicroServerArgs:
    image: str
    """Pinned micro v2 image (`repo:tag[@digest]`)."""
    file_store: FileStore
    """Size and StorageClass of the bbolt store's volume."""


class MicroServer(pulumi.ComponentResource):
    """`micro server`, exposed to the edge as api, web and proxy."""

    backends: dict[str, Backend]
    """api, web and proxy, for the edge to route to."""

    def __init__(self, name: str, args: MicroServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:MicroServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = Namespace(f"{name}-namespace", metadata=namespace_metadata(), opts=child).object_name
        labels = {**standard_labels(NAME), **selector_labels("server")}
        metadata = {"name": NAME, "namespace": namespace, "labels": labels}

        ServiceAccount(f"{name}-account", metadata=metadata, automountServiceAccountToken=False, opts=child)
        claim = PersistentVolumeClaim(
            f"{name}-store",
            metadata={**metadata, "name": f"{NAME}-store"},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": args.file_store.storage_class,
                "resources": {"requests": {"storage": f"{args.file_store.storage_gb}Gi"}},
            },
            opts=child,
        )
        Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector_labels("server")},
                # One bbolt writer: the old pod must release the volume (and the file lock) before the new one starts.
                "strategy": {"type": "Recreate"},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec(args.image, claim.object_name)},
            },
            opts=child,
        )
        for service in EDGE_SERVICES:
            row = SERVICES[service]
            Service(
                f"{name}-{service}-service",
                metadata={**metadata, "name": f"micro-{service}", "labels": standard_labels(f"micro-{service}")},
                spec={
                    "type": "ClusterIP",
                    "selector": selector_labels("server"),
                    "ports": [service_port(row.protocol, SERVER_PORTS[service], target=service)],
                },
                opts=child,
            )
        NetworkPolicy(
            f"{name}-default-deny",
            metadata={**metadata, "name": "default-deny-ingress"},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=child,
        )
        NetworkPolicy(
            f"{name}-edge-ingress",
            metadata={**metadata, "name": "micro-server-edge-ingress"},
            spec={
                "podSelector": {"matchLabels": selector_labels("server")},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": EDGE_NAMESPACE}}}
                        ],
                        "ports": [{"protocol": "TCP", "port": SERVER_PORTS[s]} for s in EDGE_SERVICES],
                    }
                ],
            },
            opts=child,
        )

        self.backends = {
            service: Backend(f"micro-{service}", SERVER_NAMESPACE, SERVER_PORTS[service], SERVICES[service].protocol)
            for service in EDGE_SERVICES
        }
        self.register_outputs({"backends": {key: asdict(backend) for key, backend in self.backends.items()}})


def pod_spec(image: str, claim: pulumi.Input[str]) -> dict[str, Any]:
    """One hardened pod; api's port is the readiness signal (it is the last of the edge to bind)."""
    ports = [{"name": s, "containerPort": SERVER_PORTS[s], "protocol": "TCP"} for s in EDGE_SERVICES]
    container = micro_container(
        image,
        ["server"],
        [{"name": key, "value": value} for key, value in ZERO_DEPENDENCY_ENV],
        ports,
        [{"name": "store", "mountPath": DATA_DIR}],
        "api",
        SERVER_RESOURCES,
    )
    return {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": [TMP, {"name": "store", "persistentVolumeClaim": {"claimName": claim}}],
    }
