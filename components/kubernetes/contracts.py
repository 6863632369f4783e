"""The values that cross from one Kubernetes component to another.

Components wire together through these objects, never through each other's internals:
a datastore publishes its `Endpoint`, the micro runtime consumes it; the runtime publishes
its `Backend`s, the edge routes to them; the cloud layer fills `CloudBindings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

SERVER_NAMESPACE = "server"
"""micro's core services; the only namespace that may reach the datastores."""
USER_NAMESPACE = "micro"
"""Services that users run through micro's runtime."""
EDGE_NAMESPACE = "envoy-gateway-system"
"""Where Envoy Gateway runs its proxies; the only namespace that may reach api, web and proxy."""


@dataclass(frozen=True)
class ServiceAccountRef:
    """A Kubernetes ServiceAccount that an Azure identity is federated with."""

    namespace: str
    name: str

    @property
    def subject(self) -> str:
        """The OIDC subject AKS puts in the account's projected token."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


CERT_MANAGER_SA = ServiceAccountRef("cert-manager", "cert-manager")
"""cert-manager's controller; it solves DNS-01 with the DNS identity."""
COCKROACH_SA = ServiceAccountRef("cockroach", "cockroach-cockroachdb")
"""CockroachDB's nodes; they write backups with the backup identity."""


@dataclass(frozen=True)
class Endpoint:
    """A datastore's client address, reached with TLS signed by the internal CA."""

    host: str
    """Cluster DNS name of the client Service, e.g. etcd-client.etcd.svc.cluster.local."""
    port: int
    namespace: str
    """The datastore's namespace (its NetworkPolicy admits SERVER_NAMESPACE only)."""
    client_user: str | None = None
    """Certificate common name the datastore expects from clients (CockroachDB: the SQL user)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Backend:
    """A micro service the edge exposes."""

    service: str
    namespace: str
    port: int
    protocol: str
    """http or grpc."""


@dataclass(frozen=True)
class CloudBindings:
    """What the Azure layer hands to the cluster layer; None in the local (kind) stack."""

    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    """The resource group of the public IPs (the edge group), where the cloud provider looks them up."""
    dns_zones: Mapping[str, pulumi.Input[str]]
    """Zone name → resource group holding it, for ACME DNS-01 solvers."""
    cert_manager_client_id: pulumi.Input[str]
    """Client ID of the user-assigned identity federated with cert-manager's ServiceAccount."""
    public_ip_names: Mapping[str, pulumi.Input[str]]
    """api/web/proxy → name of the static public IP its load balancer must use."""
    backup_account: pulumi.Input[str]
    """Storage account name for CockroachDB backups."""
    backup_container: pulumi.Input[str]
    cockroach_client_id: pulumi.Input[str]
    """Client ID of the identity federated with CockroachDB's ServiceAccount (blob writer)."""
