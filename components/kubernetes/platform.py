"""Platform: everything micro needs inside one cluster, in dependency order.

TLS first (cert-manager, the internal CA, the ACME issuers), then the datastores, then micro,
then the edge that exposes it. Each layer receives the previous one's outputs, so ordering
follows the data; the only explicit edges are on the CRDs that cert-manager's chart installs.
In `zero-dependency` mode there are no datastores and micro is one `micro server` pod.

Expects: a Kubernetes provider in `opts` (kind or AKS). Leaves out: monitoring, which the
environment does not yet describe.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.kubernetes.acme_issuers import AcmeIssuers, AcmeIssuersArgs
from components.kubernetes.cert_manager import CertManager, CertManagerArgs
from components.kubernetes.cockroach import CockroachCluster, CockroachClusterArgs
from components.kubernetes.contracts import CloudBindings
from components.kubernetes.edge import Edge, EdgeArgs
from components.kubernetes.etcd import EtcdCluster, EtcdClusterArgs
from components.kubernetes.internal_ca import InternalCa, InternalCaArgs
from components.kubernetes.micro_runtime import MicroRuntime, MicroRuntimeArgs
from components.kubernetes.micro_server import MicroServer, MicroServerArgs
from components.kubernetes.micro_v2 import SERVICES
from components.kubernetes.nats import NatsCluster, NatsClusterArgs
from infra.config.model import Environment, Region


@dataclass(frozen=True)
class PlatformArgs:
    environment: Environment
    """Sizes, hosts and release pins."""
    region: Region
    """Zones to spread over."""
    cloud: CloudBindings | None
    """Azure identities, IPs and zones; None in the local stack, which uses only the internal CA."""
    helm_releases: bool = True
    """False leaves out the Helm charts (cert-manager, Envoy Gateway, NATS, CockroachDB), for offline renders."""
    backup_passphrase: pulumi.Input[str] | None = None
    """Encrypts CockroachDB backups when set (a Pulumi secret)."""


class Platform(pulumi.ComponentResource):
    issuer: pulumi.Output[str]
    """The ClusterIssuer that signs this environment's public certificates."""
    hosts: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:Platform", name, None, opts)
        env, cloud = args.environment, args.cloud
        child = pulumi.ResourceOptions(parent=self)
        zones: list[str] = list(args.region.zones)

        cert_manager = CertManager(
            f"{name}-cert-manager",
            CertManagerArgs(
                version=env.release.charts.cert_manager,
                workload_identity_client_id=cloud.cert_manager_client_id if cloud else None,
                enabled=args.helm_releases,
            ),
            child,
        )
        ca = InternalCa(f"{name}-internal-ca", InternalCaArgs(crds=cert_manager.crds), child)
        public_issuer: pulumi.Input[str] = ca.issuer_name
        if cloud is not None and env.acme is not None:
            acme = AcmeIssuers(
                f"{name}-acme",
                AcmeIssuersArgs(email=env.acme.email, cloud=cloud, crds=cert_manager.crds),
                child,
            )
            public_issuer = acme.issuer_names[env.acme.server]

        micro: MicroServer | MicroRuntime
        if env.datastores is None:
            assert env.micro.file_store is not None  # the model guarantees it in zero-dependency mode
            micro = MicroServer(
                f"{name}-micro",
                MicroServerArgs(image=env.release.micro.ref, file_store=env.micro.file_store),
                child,
            )
        else:
            stores = env.datastores
            # Cloud stores hold the platform's data: protect etcd's and NATS's whole subtree (their namespaces own
            # the volumes). CockroachDB protects its own release: its backup Job must stay replaceable. kind data is
            # disposable.
            stateful = pulumi.ResourceOptions(parent=self, protect=cloud is not None)
            etcd = EtcdCluster(
                f"{name}-etcd",
                EtcdClusterArgs(image=env.release.etcd.ref, store=stores.etcd, zones=zones, ca_issuer=ca.issuer_name),
                stateful,
            )
            nats = NatsCluster(
                f"{name}-nats",
                NatsClusterArgs(
                    version=env.release.charts.nats,
                    store=stores.nats,
                    zones=zones,
                    ca_issuer=ca.issuer_name,
                    enabled=args.helm_releases,
                ),
                stateful,
            )
            cockroach = CockroachCluster(
                f"{name}-cockroach",
                CockroachClusterArgs(
                    version=env.release.charts.cockroachdb,
                    store=stores.cockroach,
                    zones=zones,
                    ca_issuer=ca.issuer_name,
                    cloud=cloud,
                    backup_passphrase=args.backup_passphrase,
                    enabled=args.helm_releases,
                ),
                child,
            )
            micro = MicroRuntime(
                f"{name}-micro",
                MicroRuntimeArgs(
                    image=env.release.micro.ref,
                    replicas={service: env.micro.replicas_of(service) for service in SERVICES},
                    zones=zones,
                    ca_issuer=ca.issuer_name,
                    registry=etcd.endpoint,
                    broker=nats.endpoint,
                    store=cockroach.endpoint,
                    login_url=env.micro.login_url,
                ),
                child,
            )
        Edge(
            f"{name}-edge",
            EdgeArgs(
                version=env.release.charts.envoy_gateway,
                hosts=env.dns.hosts,
                issuer=public_issuer,
                backends=micro.backends,
                cloud=cloud,
                enabled=args.helm_releases,
            ),
            # Backends are plain names, so no data edge exists: routes must wait for micro's namespace.
            pulumi.ResourceOptions(parent=self, depends_on=[micro]),
        )

        self.issuer = pulumi.Output.from_input(public_issuer)
        self.hosts = pulumi.Output.from_input(env.dns.hosts.model_dump())
        self.register_outputs({"issuer": self.issuer, "hosts": self.hosts})
