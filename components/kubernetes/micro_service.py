"""One micro v2 process: a Deployment and a Service named `micro-<name>`, and a PDB when it is replicated.

The pod runs the upstream image as a non-root user on a read-only root filesystem (an emptyDir at /tmp, where
micro keeps ~/.micro) and meets the `restricted` Pod Security profile. Sidecars and init containers come from the
caller (the datastore tunnels, the store key copy); so do env and volumes. Two or more replicas are spread over
zones and nodes and kept available by a PodDisruptionBudget.

Expects: the namespace and every Secret named in `volumes` and `env` (pods wait for missing Secrets, so no
ordering edge is needed). Leaves out: NetworkPolicies and RBAC, which belong to whoever decides who talks to the
service and what it may do (micro_runtime.py, micro_server.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.kubernetes.datastore import container_security_context
from components.kubernetes.objects import Deployment, PodDisruptionBudget, Service, ServiceAccount

CONTAINER = "micro"
RUN_AS = 10001
"""uid and gid of every process in a micro pod; the image (alpine, ENTRYPOINT /micro) sets no user."""
H2C = "kubernetes.io/h2c"
"""appProtocol that makes Envoy Gateway (and meshes) speak HTTP/2 cleartext, which gRPC needs."""
PROTOCOLS = ("http", "grpc")
TMP = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}
"""micro creates ~/.micro at start (HOME=/tmp); capped so a leak cannot fill the node."""
RESOURCES = {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "4Gi"}}
"""One micro process."""
PASSWD_ENV = ({"name": "HOME", "value": "/tmp"}, {"name": "USER", "value": "micro"})
"""The uid has no passwd entry: Go's os/user then needs USER and HOME, and HOME must be writable."""


@dataclass(frozen=True)
class MicroServiceArgs:
    name: str
    """Service name as micro knows it (`auth`, `api`...); objects are named `micro-<name>`."""
    namespace: pulumi.Input[str]
    """Namespace to run in; pass the Namespace's output so the service waits for it."""
    image: str
    """Pinned image reference (`repo:tag[@digest]`)."""
    port: int
    """The port micro serves; the container port, the Service port and the probes use it."""
    protocol: str
    """http or grpc; grpc marks the Service port h2c so HTTP/2-aware proxies don't downgrade to HTTP/1.1."""
    replicas: int
    """Pod count; above 1 adds zone and node spreading and a PodDisruptionBudget (minAvailable 1)."""
    zones: Sequence[str]
    """Zones of the region; spreading over them only matters when there is more than one."""
    env: list[dict[str, Any]] = field(default_factory=list)
    """Container env, as in a manifest (`valueFrom.secretKeyRef`); HOME and USER are always added."""
    volumes: list[dict[str, Any]] = field(default_factory=list)
    """Extra pod volumes (the /tmp emptyDir is always added)."""
    mounts: list[dict[str, Any]] = field(default_factory=list)
    """micro's volume mounts for `volumes`."""
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    """Init containers and native sidecars (restartPolicy Always), in start order."""
    command: list[str] | None = None
    """Entrypoint override (micro's args still follow as "$@"); None runs the image's /micro."""
    service_account: str | None = None
    """An existing ServiceAccount whose token the pod mounts (it talks to the Kubernetes API). None gives the
    service its own ServiceAccount `micro-<name>` and mounts no token at all."""


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
        labels = {**standard_labels(full_name), **selector_labels(args.name)}
        metadata = {"name": full_name, "namespace": args.namespace, "labels": labels}

        account = args.service_account
        if account is None:
            # Its own identity, with the token switched off on the account as well as on the pod.
            ServiceAccount(f"{name}-account", metadata=metadata, automountServiceAccountToken=False, opts=child)
            account = full_name

        Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector_labels(args.name)},
                # Surge first: a rollout never drops below the current ready count.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec(args, account)},
            },
            opts=child,
        )
        Service(
            f"{name}-service",
            metadata=metadata,
            spec={
                "type": "ClusterIP",
                "selector": selector_labels(args.name),
                "ports": [service_port(args.protocol, args.port)],
            },
            opts=child,
        )
        if args.replicas > 1:
            PodDisruptionBudget(
                f"{name}-pdb",
                metadata=metadata,
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


def service_port(protocol: str, port: int, target: str | None = None) -> dict[str, Any]:
    """A Service port named for its protocol, targeting the container port `target` (default: the same name)."""
    spec: dict[str, Any] = {"name": protocol, "port": port, "targetPort": target or protocol, "protocol": "TCP"}
    if protocol == "grpc":
        spec["appProtocol"] = H2C
    return spec


def micro_container(
    image: str,
    args: list[str],
    env: list[dict[str, Any]],
    ports: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    probe_port: str,
    resources: dict[str, dict[str, str]] = RESOURCES,
) -> dict[str, Any]:
    """micro itself: hardened, probed on the port it serves.

    TCP probes, because v2 has no health endpoint a kubelet can call: the RPC services speak only go-micro RPC
    (Debug.Health needs a go-micro client), and every HTTP path of api and web runs through the auth wrapper and the
    namespace resolver (micro/micro@e60b2cac:client/api/auth/wrapper.go). A bound port is what v2 really serves.
    """
    probe = {"tcpSocket": {"port": probe_port}}
    return {
        "name": CONTAINER,
        "image": image,
        # Images are pinned to a release tag (and digest when known), so a node's cached copy is the right one.
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": [*PASSWD_ENV, *env],
        "ports": ports,
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
        # Generous: two minutes of refused connections before a restart, so a slow datastore at start-up does not
        # turn into a restart loop.
        "livenessProbe": {**probe, "initialDelaySeconds": 15, "periodSeconds": 20, "failureThreshold": 6},
        "resources": resources,
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts],
    }


def container_security() -> dict[str, Any]:
    """The hardening every container in a micro pod gets, as the datastores' containers do."""
    return {**container_security_context(RUN_AS), "runAsGroup": RUN_AS}


def pod_security() -> dict[str, Any]:
    """fsGroup lets the micro user read Secret volumes: 0400 files become 0440 root:10001 (readable by the group).

    Files that must be owner-only (the CockroachDB key) therefore never come from a Secret volume directly.
    """
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec(args: MicroServiceArgs, account: str) -> dict[str, Any]:
    """The pod: hardened, probed, spread when replicated."""
    container = micro_container(
        args.image,
        [args.name],
        args.env,
        [{"name": args.protocol, "containerPort": args.port, "protocol": "TCP"}],
        args.mounts,
        args.protocol,
    )
    if args.command is not None:
        container["command"] = args.command
    spec: dict[str, Any] = {
        "serviceAccountName": account,
        "automountServiceAccountToken": args.service_account is not None,
        # Service links would inject MICRO_<SERVICE>_PORT=tcp://... for every micro-* Service in the namespace,
        # right inside the MICRO_ env prefix that micro reads its flags from.
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "containers": [container],
        "volumes": [TMP, *args.volumes],
    }
    if args.init_containers:
        spec["initContainers"] = args.init_containers
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
