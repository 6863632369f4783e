"""AzureRegion: everything Azure-side that one region of an environment needs.

A resource group; the AKS cluster; the api/web/proxy public IPs; the DNS records that point at
them; cert-manager's DNS identity (a TXT-only custom role on exactly the environment's zones);
CockroachDB's backup storage and identity (a no-delete blob writer on exactly its container); and the
Kubernetes provider the platform layer is built with. Expects the zones to exist (DnsZones).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.azure import naming
from components.azure.aks_cluster import AksCluster, AksClusterArgs
from components.azure.arm import ArmResource, client_config
from components.azure.backup_storage import BackupStorage, BackupStorageArgs
from components.azure.dns_records import DnsRecords, DnsRecordsArgs
from components.azure.dns_zones import DnsZones
from components.azure.edge_ips import EdgeIps, EdgeIpsArgs
from components.azure.grants import custom_role
from components.azure.monitoring import Monitoring, MonitoringArgs
from components.azure.roles import ACME_ROLE, ACME_TXT_WRITER, BACKUP_ROLE, BACKUP_WRITER
from components.azure.tags import tags
from components.azure.workload_identity import WorkloadIdentity, WorkloadIdentityArgs
from components.kubernetes.contracts import CERT_MANAGER_SA, COCKROACH_SA, CloudBindings
from infra.config.model import Environment, Region


@dataclass(frozen=True)
class AzureRegionArgs:
    environment: Environment
    region: Region
    zones: DnsZones
    """The environment's zones (owned by this stack or referenced from the primary stack)."""
    primary: bool
    """Whether this region answers the environment's public hosts (else only region-scoped ones)."""
    render_yaml_to_directory: str | None = None
    """Render the platform layer's manifests instead of applying them."""


class AzureRegion(pulumi.ComponentResource):
    bindings: CloudBindings
    """What the platform layer needs from Azure."""
    kubernetes_provider: k8s.Provider
    public_ips: pulumi.Output[dict[str, str]]
    cluster_name: pulumi.Output[str]

    def __init__(self, name: str, args: AzureRegionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:AzureRegion", name, None, opts)
        env, region = args.environment, args.region
        # The model guarantees all three for Azure environments.
        assert region.cluster is not None and env.datastores is not None and env.datastores.cockroach.backup
        child = pulumi.ResourceOptions(parent=self)
        client = client_config()
        subscription_id, tenant_id = client["subscriptionId"], client["tenantId"]

        group = ArmResource(
            f"{name}-rg",
            "azure-native:resources:ResourceGroup",
            {
                "resourceGroupName": naming.resource_group(env.name, region.name),
                "location": region.name,
                "tags": tags(env.name, region.name, "region"),
            },
            # Holds the cluster and the backup account; deleting the group would take them with it.
            pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        group_name = group.output("name")
        monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(env.name, region.name, group_name, region.cluster.monitoring),
            child,
        )
        cluster = AksCluster(
            f"{name}-aks",
            AksClusterArgs(
                env.name, region, region.cluster, group_name, tenant_id, subscription_id, client["objectId"], monitoring
            ),
            child,
        )
        ips = EdgeIps(
            f"{name}-edge",
            EdgeIpsArgs(
                env.name,
                region.name,
                list(region.zones),
                subscription_id,
                cluster.control_plane_principal_id,
            ),
            child,
        )
        DnsRecords(
            f"{name}-dns",
            DnsRecordsArgs(
                env.dns,
                region.name,
                args.primary,
                args.zones.zone_resource_groups,
                args.zones.zone_names,
                ips.addresses,
            ),
            child,
        )
        # Custom roles are defined at the resource group holding what they grant on; a region stack referencing the
        # zones defines its own (role names are unique per tenant, so each carries env and region).
        dns_group = pulumi.Output.all(subscription_id, args.zones.resource_group_name).apply(
            lambda sg: f"/subscriptions/{sg[0]}/resourceGroups/{sg[1]}"
        )
        acme_role = custom_role(
            f"{name}-acme-dns01-role",
            role_name=naming.custom_role(env.name, region.name, ACME_ROLE),
            description="cert-manager DNS-01: read the zones, write TXT records; no other record type.",
            scope=dns_group,
            permissions=ACME_TXT_WRITER,
            opts=child,
        )
        cert_manager = WorkloadIdentity(
            f"{name}-cert-manager",
            WorkloadIdentityArgs(
                identity_name=naming.identity(env.name, region.name, "certmanager"),
                resource_group_name=group_name,
                location=region.name,
                oidc_issuer_url=cluster.oidc_issuer_url,
                service_account=CERT_MANAGER_SA,
                role_definition_id=acme_role.id,
                tags=tags(env.name, region.name, "cert-manager"),
                scopes={zone.replace(".", "-"): zone_id for zone, zone_id in args.zones.zone_ids.items()},
            ),
            child,
        )
        backups = BackupStorage(
            f"{name}-backups",
            BackupStorageArgs(env.name, region.name, group_name, subscription_id, env.datastores.cockroach.backup),
            child,
        )
        writer_role = custom_role(
            f"{name}-backup-writer-role",
            role_name=naming.custom_role(env.name, region.name, BACKUP_ROLE),
            description="CockroachDB backups: list, read and write blobs; never delete them.",
            scope=group.id,
            permissions=BACKUP_WRITER,
            opts=child,
        )
        cockroach = WorkloadIdentity(
            f"{name}-cockroach",
            WorkloadIdentityArgs(
                identity_name=naming.identity(env.name, region.name, "cockroach"),
                resource_group_name=group_name,
                location=region.name,
                oidc_issuer_url=cluster.oidc_issuer_url,
                service_account=COCKROACH_SA,
                role_definition_id=writer_role.id,
                tags=tags(env.name, region.name, "cockroach"),
                scopes={"backups": backups.container_id},
            ),
            child,
        )
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cluster.kubeconfig,
            render_yaml_to_directory=args.render_yaml_to_directory,
            enable_server_side_apply=True,
            # The token in the kubeconfig changes every run; only another cluster replaces the provider.
            cluster_identifier=naming.cluster(env.name, region.name),
            # Never fall back to an ambient kubeconfig: a wrong context would deploy into the wrong cluster.
            # The grants are ordered before the first Kubernetes call; Azure RBAC may still take a few minutes to
            # propagate, which the Kubernetes provider's retries of 403 on the first apply do not cover: a first
            # `up` that fails there succeeds when re-run.
            opts=pulumi.ResourceOptions(parent=self, depends_on=cluster.data_plane_grants),
        )
        self.bindings = CloudBindings(
            subscription_id=subscription_id,
            tenant_id=tenant_id,
            resource_group=ips.resource_group_name,
            dns_zones=_zone_groups(args.zones, env),
            cert_manager_client_id=cert_manager.client_id,
            public_ip_names=ips.names,
            backup_account=backups.account_name,
            backup_container=backups.container_name,
            cockroach_client_id=cockroach.client_id,
        )
        self.public_ips = pulumi.Output.all(**ips.addresses).apply(dict)
        self.cluster_name = cluster.name
        self.register_outputs({"public_ips": self.public_ips, "cluster_name": self.cluster_name})


def _zone_groups(zones: DnsZones, env: Environment) -> dict[str, pulumi.Output[str]]:
    groups = pulumi.Output.from_input(zones.zone_resource_groups)
    return {zone: _group_of(groups, zone) for zone in env.dns.zones}


def _group_of(groups: pulumi.Output[dict[str, str]], zone: str) -> pulumi.Output[str]:
    return groups.apply(lambda g: g[zone])
