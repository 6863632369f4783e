"""Shapes the three datastores (etcd, NATS, CockroachDB) share: labels, namespaces, isolation,
certificates, spreading and hardening, so each datastore module holds only what is its own.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.kubernetes.contracts import SERVER_NAMESPACE
from infra.config.model import Datastore


def spread_constraints(members: int, zones: list[str], selector: dict[str, str]) -> list[dict[str, Any]]:
    """One member per zone (over at least len(zones) zones) and per node; nothing to spread for one member.

    `nodeTaintsPolicy: Honor` leaves tainted system nodes out of the count, so they cannot block scheduling.
    """
    if members <= 1:
        return []
    common = {
        "maxSkew": 1,
        "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Honor",
        "labelSelector": {"matchLabels": selector},
    }
    return [
        {**common, "topologyKey": "topology.kubernetes.io/zone", "minDomains": min(len(zones), members)},
        {**common, "topologyKey": "kubernetes.io/hostname"},
    ]


def datastore_labels(name: str) -> dict[str, str]:
    """The labels every object of a datastore carries."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": "micro",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def namespace_metadata(name: str, enforce: str) -> dict[str, Any]:
    """A datastore namespace, with Pod Security Admission enforcing `enforce` and warning on `restricted`.

    `restricted` where every pod is written here; `baseline` where a chart's hook pods (which this
    code cannot harden) must still start.
    """
    return {
        "name": name,
        "labels": {
            **datastore_labels(name),
            "pod-security.kubernetes.io/enforce": enforce,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        },
    }


def isolation_policy_spec(client_port: int, peer_ports: list[int]) -> dict[str, Any]:
    """NetworkPolicy spec: every pod of the namespace accepts clients from `server` only, peers from itself.

    Egress stays open: members reach each other, DNS and (CockroachDB) Azure blob storage.
    """
    return {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": SERVER_NAMESPACE}}}],
                "ports": [{"protocol": "TCP", "port": client_port}],
            },
            {
                "from": [{"podSelector": {}}],
                "ports": [{"protocol": "TCP", "port": port} for port in peer_ports],
            },
        ],
    }


def object_metadata(name: str, namespace: pulumi.Input[str], store: str) -> dict[str, Any]:
    """Metadata of an object in datastore `store`'s namespace (pass the Namespace's output, for ordering)."""
    return {"name": name, "namespace": namespace, "labels": datastore_labels(store)}


def certificates(
    name: str,
    namespace: pulumi.Input[str],
    store: str,
    specs: dict[str, dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> list[CustomResource]:
    """One cert-manager Certificate per role (`specs`: role → certificate_spec), named after its Secret."""
    return [
        CustomResource(
            f"{name}-{role}-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=object_metadata(spec["secretName"], namespace, store),
            spec=spec,
            opts=opts,
        )
        for role, spec in specs.items()
    ]


def certificate_spec(
    secret_name: str,
    dns_names: list[str],
    issuer: pulumi.Input[str],
    usages: tuple[str, ...] = ("server auth", "client auth"),
    common_name: str | None = None,
) -> dict[str, Any]:
    """A cert-manager Certificate spec (raw, camelCase) signed by the ClusterIssuer `issuer`.

    ECDSA P-256 with O=m3o, as every certificate of the platform; the key is rotated on renewal.
    """
    spec: dict[str, Any] = {
        "secretName": secret_name,
        "subject": {"organizations": ["m3o"]},
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "duration": "2160h",  # 90 days
        "renewBefore": "720h",  # 30 days: renewals survive a long weekend of cert-manager outage
        "usages": ["digital signature", "key encipherment", *usages],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
    }
    if dns_names:
        spec["dnsNames"] = dns_names
    if common_name is not None:
        spec["commonName"] = common_name
    return spec


def resources(store: Datastore) -> dict[str, dict[str, str]]:
    return {"requests": store.requests.model_dump(), "limits": store.limits.model_dump()}


def pod_security_context(uid: int) -> dict[str, Any]:
    """Typed-args form. fsGroup makes the data volume and the mounted Secrets readable by `uid`."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(uid: int) -> dict[str, Any]:
    """Typed-args form of the hardening every container gets."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
