"""One micro service: a Deployment and a Service named `micro-<name>`, and a PDB when it is replicated.

The pod runs as a non-root user on a read-only root filesystem (with an emptyDir at /tmp, where micro keeps its
user directory) and meets the `restricted` Pod Security profile. Two or more replicas are spread over zones and
nodes and kept available by a PodDisruptionBudget.

Expects: the namespace and every Secret named in `volumes` and `env` (pods wait for missing Secrets, so no
ordering edge is needed). Leaves out: NetworkPolicies and RBAC, which belong to whoever decides who talks to the
service and what it may do (see micro_runtime.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.kubernetes.objects import Deployment, PodDisruptionBudget, Service, ServiceAccount

CONTAINER = "micro"
RUN_AS = 10001
"""uid and gid of the micro process; no image user is assumed."""
H2C = "kubernetes.io/h2c"
"""appProtocol that makes Envoy Gateway (and meshes) speak HTTP/2 cleartext, which gRPC needs."""
METRICS_PORT = "9000"
"""Where micro serves Prometheus metrics (`/metrics`)."""
PROTOCOLS = ("http", "grpc")


@dataclass(frozen=True)
class MicroServiceArgs:
    name: str
    """Service name as micro knows it (`network`, `api`...); objects are named `micro-<name>`."""
    namespace: pulumi.Input[str]
    """Namespace to run in; pass the Namespace's output so the service waits for it."""
    image: str
    """Pinned image reference (`repo:tag[@digest]`)."""
    port: int
    """The one port the service listens on; the container port, the Service port and the probes use it."""
    args: list[str]
    """Container args, e.g. ["service", "auth"] or ["web"]."""
    replicas: int
    """Pod count; above 1 adds zone and node spreading and a PodDisruptionBudget (minAvailable 1)."""
    zones: Sequence[str]
    """Zones of the region; spreading over them only matters when there is more than one."""
    env: list[dict[str, Any]] = field(default_factory=list)
    """Container env, as in a manifest (`valueFrom.secretKeyRef`)."""
    volumes: list[dict[str, Any]] = field(default_factory=list)
    """Extra pod volumes (the /tmp emptyDir is always added)."""
    mounts: list[dict[str, Any]] = field(default_factory=list)
    """Container volume mounts for `volumes`."""
    service_account: str | None = None
    """An existing ServiceAccount whose token the pod mounts (it talks to the Kubernetes API). None gives the
    service its own ServiceAccount `micro-<name>` and mounts no token at all."""
    protocol: str = "grpc"
    """http or grpc; grpc marks the Service port h2c so HTTP/2-aware proxies don't downgrade to HTTP/1.1."""
    labels: dict[str, str] = field(default_factory=dict)
    """Extra labels for every object and pod (never part of the selector, so they may change freely)."""


class MicroService(pulumi.ComponentResource):
    """Deployment + Service (+ PodDisruptionBudget) for one micro service."""

    service_name: str
    """Name of the Service (`micro-<name>`), reachable at <service_name>.<namespace>.svc.cluster.local:<port>."""
    port: int
    protocol: str

    def __init__(self, name: str, args: MicroServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:MicroService", name, None, opts)
        if args.protocol not in PROTOCOLS:
            raise ValueError(f"MicroService {args.name}: protocol must be one of {PROTOCOLS}, got {args.protocol!r}")
        child = pulumi.ResourceOptions(parent=self)
        full_name = f"micro-{args.name}"
        labels = {**args.labels, **standard_labels(full_name), **selector_labels(args.name)}

        def metadata() -> dict[str, Any]:
            return {"name": full_name, "namespace": args.namespace, "labels": labels}

        account = args.service_account
        if account is None:
            # Its own identity, with the token switched off on the account as well as on the pod.
            ServiceAccount(f"{name}-account", metadata=metadata(), automountServiceAccountToken=False, opts=child)
            account = full_name

        Deployment(
            f"{name}-deployment",
            metadata=metadata(),
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector_labels(args.name)},
                # Surge first: a rollout never drops below the current ready count.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/path": "/metrics",
                            "prometheus.io/port": METRICS_PORT,
                        },
                    },
                    "spec": pod_spec(args, account),
                },
            },
            opts=child,
        )
        port: dict[str, Any] = {
            "name": args.protocol,
            "port": args.port,
            "targetPort": args.protocol,
            "protocol": "TCP",
        }
        if args.protocol == "grpc":
            port["appProtocol"] = H2C
        Service(
            f"{name}-service",
            metadata=metadata(),
            spec={"type": "ClusterIP", "selector": selector_labels(args.name), "ports": [port]},
            opts=child,
        )
        if args.replicas > 1:
            PodDisruptionBudget(
                f"{name}-pdb",
                metadata=metadata(),
                spec={
                    "minAvailable": 1,
                    "selector": {"matchLabels": selector_labels(args.name)},
                    # A crash-looping pod must not block node drains: only healthy pods count as protected.
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                },
                opts=child,
            )

        self.service_name = full_name
        self.port = args.port
        self.protocol = args.protocol
        self.register_outputs({"service_name": self.service_name, "port": self.port, "protocol": self.protocol})


def standard_labels(name: str) -> dict[str, str]:
    """The labels every object of micro-infra carries."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "micro",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector_labels(name: str) -> dict[str, str]:
    """Pod selector of `micro-<name>`; immutable on a Deployment, so it never includes versions."""
    return {"app.kubernetes.io/name": f"micro-{name}", "micro": "server"}


def pod_spec(args: MicroServiceArgs, account: str) -> dict[str, Any]:
    """The pod: hardened, probed, spread when replicated."""
    probe = {"tcpSocket": {"port": args.protocol}}
    spec: dict[str, Any] = {
        "serviceAccountName": account,
        "automountServiceAccountToken": args.service_account is not None,
        # Service links would inject MICRO_<SERVICE>_PORT=tcp://... for every micro-* Service in the namespace,
        # right inside the MICRO_ env prefix that micro reads its flags from.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            # Secret volumes are root-owned; fsGroup adds group read, so 0400 files become 0440 root:10001 and
            # stay readable by this user only.
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER,
                "image": args.image,
                # Images are pinned to a release tag (and digest when known), so a node's cached copy is the
                # right one; Always would only add a registry round trip and a registry outage to every start.
                "imagePullPolicy": "IfNotPresent",
                "args": args.args,
                "env": args.env,
                "ports": [{"name": args.protocol, "containerPort": args.port, "protocol": "TCP"}],
                "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
                # Generous: two minutes of refused connections before a restart, so a slow datastore
                # at start-up does not turn into a restart loop.
                "livenessProbe": {**probe, "initialDelaySeconds": 15, "periodSeconds": 20, "failureThreshold": 6},
                "resources": {
                    "requests": {"cpu": "100m", "memory": "100Mi"},
                    "limits": {"cpu": "1", "memory": "4Gi"},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *args.mounts],
            }
        ],
        # micro keeps its user directory (~/.micro, HOME=/tmp) here; capped so a leak cannot fill the node.
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}, *args.volumes],
    }
    if args.replicas > 1:
        spec["topologySpreadConstraints"] = spread_constraints(args.name, args.zones)
    return spec


def spread_constraints(name: str, zones: Sequence[str]) -> list[dict[str, Any]]:
    """Replicas on different nodes (hard) and, where possible, different zones (soft).

    Zones are ScheduleAnyway: while a zone is down its nodes still count as a domain, and DoNotSchedule would
    leave the replacement pods Pending exactly when they are needed. Nodes are DoNotSchedule: two replicas on one
    node would make the PodDisruptionBudget meaningless, and the autoscaler adds a node when none is free.
    `pod-template-hash` scopes both to one rollout, so old pods being replaced do not skew the count.
    """
    selector = {"matchLabels": selector_labels(name)}
    common = {"maxSkew": 1, "labelSelector": selector, "matchLabelKeys": ["pod-template-hash"]}
    constraints = [
        {
            **common,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            # Tainted nodes (the AKS system pool) never take these pods; counting them would block scheduling.
            "nodeTaintsPolicy": "Honor",
        }
    ]
    if len(zones) > 1:
        constraints.append(
            {**common, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
        )
    return constraints
