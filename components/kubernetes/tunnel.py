"""Mutual TLS for the datastores micro v2 cannot speak TLS to: ghostunnel on both ends, plaintext only on loopback.

micro v2.9.3 has no TLS client for etcd (go-micro@94bd1025:registry/etcd/etcd.go: no flag, `Secure` skips
verification) and no client certificates for NATS (nats.go 1.9.2 upgrades only when INFO demands it, trusting
system roots). So micro talks plaintext to 127.0.0.1 inside its own pod, a ghostunnel *client* sidecar carries the
bytes over mutual TLS to the datastore, and a ghostunnel *server* sidecar in the datastore pod checks the client
certificate before handing them to the datastore's loopback-only listener.

Why this and not Cilium's transparent encryption: it holds on every cluster the program targets (kind has no
WireGuard), it authenticates the client (node encryption only encrypts, so NATS would still need credentials that
v2 can only carry in its URL), and both ends are plain pod specs that the tests and the API server can check.
Both ends: TLS-terminating the datastore side with ghostunnel too, rather than letting the client tunnel speak to
the datastore's own TLS, because NATS negotiates TLS inside its protocol (INFO, then the handshake), which a TCP
tunnel cannot originate, and because it keeps one mechanism and one certificate check for both.

Certificates come from the internal CA (cert-manager rotates them; `--timed-reload` picks the new pair up without
dropping connections). Flags: ghostunnel/ghostunnel@96e1e7ec (v1.11.1):main.go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.kubernetes.datastore import container_security_context

IMAGE = "ghostunnel/ghostunnel:v1.11.1-distroless"
"""Distroless variant (gcr.io/distroless/base-nossl:nonroot, no shell); README "Docker Images" of v1.11.1.
No digest: none can be resolved from this workplace. Bump it with the tag's release notes."""
CLIENT_CN = "micro"
"""The common name micro's client certificates carry; the server ends admit this name only (`--allow-cn`)."""
RELOAD = "1h"
"""How often the key pair is re-read; cert-manager renews 30+ days early, so an hour is never late."""
RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}
"""A byte pump: small and steady; the CPU limit leaves room for TLS handshakes after a datastore restart."""
CERT_DIR = "/etc/ghostunnel"


@dataclass(frozen=True)
class Tunnel:
    """One datastore, seen through its tunnel."""

    name: str
    """registry or broker: the container is `tls-<name>`."""
    port: int
    """The datastore's client port: loopback on both ends, the pod IP on the datastore's server end."""
    target_host: str
    """The datastore's client Service, which the client end dials and whose name its server certificate carries."""
    secret: str
    """The Secret with the client (micro side) or server (datastore side) key pair and ca.crt."""
    status_port: int
    """ghostunnel's /_status, on the pod IP so the kubelet can probe it (the NetworkPolicies admit no one else)."""


def client_sidecar(tunnel: Tunnel, uid: int) -> dict[str, Any]:
    """A native sidecar (init container, restartPolicy Always) that micro reaches at 127.0.0.1:<port>.

    Native, so it is up before micro starts (micro dials etcd once, at start) and stops after it.
    """
    return _container(
        f"tls-{tunnel.name}",
        [
            "client",
            f"--listen=127.0.0.1:{tunnel.port}",
            f"--target={tunnel.target_host}:{tunnel.port}",
        ],
        tunnel,
        uid,
        sidecar=True,
    )


def server_container(tunnel: Tunnel, uid: int, port_name: str | None = None) -> dict[str, Any]:
    """The datastore's only network-facing client listener: mutual TLS on the pod IP, forwarded to loopback.

    The pod IP (not 0.0.0.0): the datastore itself holds 127.0.0.1:<port>, and both may bind the same port only on
    different addresses. `--allow-cn` admits micro's certificates and nothing else the CA signs. `port_name`
    declares the port here, for Services that target it by name.
    """
    container = _container(
        f"tls-{tunnel.name}",
        [
            "server",
            f"--listen=$(POD_IP):{tunnel.port}",
            f"--target=127.0.0.1:{tunnel.port}",
            f"--allow-cn={CLIENT_CN}",
        ],
        tunnel,
        uid,
        sidecar=False,
    )
    if port_name is not None:
        container["ports"].insert(0, {"name": port_name, "containerPort": tunnel.port, "protocol": "TCP"})
    return container


def certificate_volume(tunnel: Tunnel) -> dict[str, Any]:
    """The Secret volume the tunnel reads (0400; ghostunnel runs as the pod's user, which fsGroup lets read it)."""
    return {"name": f"tls-{tunnel.name}", "secret": {"secretName": tunnel.secret, "defaultMode": 0o400}}


def _container(name: str, mode: list[str], tunnel: Tunnel, uid: int, sidecar: bool) -> dict[str, Any]:
    certs = f"{CERT_DIR}/{tunnel.name}"
    container: dict[str, Any] = {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            *mode,
            f"--cert={certs}/tls.crt",
            f"--key={certs}/tls.key",
            f"--cacert={certs}/ca.crt",
            f"--timed-reload={RELOAD}",
            f"--status=$(POD_IP):{tunnel.status_port}",
            # Connection logs would record every micro reconnect; handshake errors still show.
            "--quiet=conns",
        ],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"name": f"{tunnel.name}-status", "containerPort": tunnel.status_port, "protocol": "TCP"}],
        "startupProbe": _status_probe(tunnel, failureThreshold=30, periodSeconds=2),
        "readinessProbe": _status_probe(tunnel, periodSeconds=10),
        "livenessProbe": _status_probe(tunnel, periodSeconds=20, failureThreshold=3),
        "resources": RESOURCES,
        "securityContext": {**container_security_context(uid), "runAsGroup": uid},
        "volumeMounts": [{"name": f"tls-{tunnel.name}", "mountPath": certs, "readOnly": True}],
    }
    if sidecar:
        container["restartPolicy"] = "Always"
    return container


def _status_probe(tunnel: Tunnel, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": "/_status", "port": tunnel.status_port}, "timeoutSeconds": 2, **timing}
