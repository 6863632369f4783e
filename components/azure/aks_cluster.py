"""AksCluster: one AKS cluster in the shape of the AKS baseline (mspnp/aks-baseline).

Every security- and cost-relevant setting is written out, including the ones equal to the
default, so a reviewer sees the whole posture in one place. Deliberately not deployed:
a private API server and hub-spoke egress firewall (the edge is public by design: api, web and
proxy serve the internet), Defender and Log Analytics (billing decisions for the operators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerservice, managedidentity

from components.azure import naming
from infra.config.model import Cluster, NodePool, Region

SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"
"""Keeps workloads off the system pool, so CoreDNS and konnectivity never starve."""


@dataclass(frozen=True)
class AksClusterArgs:
    environment: str
    region: Region
    cluster: Cluster
    resource_group_name: pulumi.Input[str]
    tenant_id: pulumi.Input[str]


class AksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    """The cluster's Azure name."""
    oidc_issuer_url: pulumi.Output[str]
    """Issuer that federated credentials trust (workload identity)."""
    control_plane_principal_id: pulumi.Output[str]
    """The control plane's identity; it needs Network Contributor on the edge IPs."""
    kubeconfig: pulumi.Output[str]
    """User kubeconfig (Entra ID; kubelogin), a Pulumi secret."""

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:AksCluster", name, None, opts)
        env, region, spec = args.environment, args.region, args.cluster
        child = pulumi.ResourceOptions(parent=self)

        # A user-assigned control-plane identity exists before the cluster, so its role on the
        # public IPs can be granted before the load balancer first needs it.
        control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane",
            resource_name_=naming.identity(env, region.name, "aks"),
            resource_group_name=args.resource_group_name,
            location=region.name,
            opts=child,
        )
        cluster = containerservice.ManagedCluster(
            f"{name}-cluster",
            resource_name_=naming.cluster(env, region.name),
            resource_group_name=args.resource_group_name,
            location=region.name,
            dns_prefix=naming.cluster(env, region.name),
            kubernetes_version=spec.kubernetes_version,
            sku={"name": "Base", "tier": spec.tier.value},
            identity={"type": "UserAssigned", "user_assigned_identities": [control_plane.id]},
            agent_pool_profiles=[
                agent_pool(spec.system_pool, region.zones, system=True),
                agent_pool(spec.user_pool, region.zones, system=False),
            ],
            network_profile={
                # Overlay: pods get addresses from a private CIDR, so the VNet is not sized per pod.
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",
                "pod_cidr": "10.244.0.0/16",
                "service_cidr": "10.0.0.0/16",
                "dns_service_ip": "10.0.0.10",
                "load_balancer_sku": "standard",
                "outbound_type": "loadBalancer",
            },
            oidc_issuer_profile={"enabled": True},
            security_profile={
                "workload_identity": {"enabled": True},
                "image_cleaner": {"enabled": True, "interval_hours": 168},  # weekly
            },
            enable_rbac=True,
            aad_profile={
                "managed": True,
                "enable_azure_rbac": True,
                "tenant_id": args.tenant_id,
                "admin_group_object_ids": list(spec.admin_group_ids),
            },
            disable_local_accounts=not spec.local_accounts,
            api_server_access_profile={"authorized_ip_ranges": list(spec.authorized_ip_ranges)},
            auto_upgrade_profile={
                "upgrade_channel": spec.upgrade_channel.value,
                "node_os_upgrade_channel": "NodeImage",
            },
            auto_scaler_profile={
                "balance_similar_node_groups": "true",  # keeps zones even when scaling
                "expander": "least-waste",
                "skip_nodes_with_local_storage": "false",  # datastores use PVCs, not emptyDir state
            },
            addon_profiles={
                "azurepolicy": {"enabled": True},
                "azureKeyvaultSecretsProvider": {"enabled": False},  # secrets come from Pulumi, not Key Vault
                "httpApplicationRouting": {"enabled": False},
                "omsagent": {"enabled": False},  # enable with a Log Analytics workspace
            },
            storage_profile={
                "disk_csi_driver": {"enabled": True},  # managed-csi-premium volumes for the datastores
                "file_csi_driver": {"enabled": False},
                "blob_csi_driver": {"enabled": False},
                "snapshot_controller": {"enabled": True},
            },
            tags={"environment": env, "region": region.name, "managed-by": "pulumi"},
            opts=child,
        )
        for config_name, schedule in maintenance_windows(spec).items():
            containerservice.MaintenanceConfiguration(
                f"{name}-{config_name}",
                config_name=config_name,
                resource_group_name=args.resource_group_name,
                resource_name_=cluster.name,
                maintenance_window=schedule,
                opts=pulumi.ResourceOptions(parent=cluster),
            )
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group_name,
            resource_name=cluster.name,
            # kubelogin turns the Entra ID login into a token, so no static credential is handed out.
            format="exec",
        )

        self.name = cluster.name
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda p: (p.issuer_url if p else None) or "")
        self.control_plane_principal_id = control_plane.principal_id
        self.kubeconfig = pulumi.Output.secret(credentials.kubeconfigs.apply(_decode_first))
        self.register_outputs(
            {
                "name": self.name,
                "oidc_issuer_url": self.oidc_issuer_url,
                "control_plane_principal_id": self.control_plane_principal_id,
                "kubeconfig": self.kubeconfig,
            }
        )


def agent_pool(pool: NodePool, zones: Sequence[str], system: bool) -> dict:
    """One autoscaling VMSS pool across `zones`; the system pool is tainted for add-ons only."""
    return {
        "name": pool.name,
        "mode": "System" if system else "User",
        "type": "VirtualMachineScaleSets",
        "vm_size": pool.vm_size,
        "os_type": "Linux",
        "os_sku": "AzureLinux",
        "os_disk_size_gb": pool.os_disk_gb,
        "os_disk_type": "Ephemeral",  # faster reimage, no disk cost; the VM sizes above have a cache disk
        "availability_zones": list(zones),
        "enable_auto_scaling": True,
        "count": pool.min_count,
        "min_count": pool.min_count,
        "max_count": pool.max_count,
        "max_pods": 110,
        "enable_node_public_ip": False,
        "node_taints": [SYSTEM_TAINT] if system else [],
        "upgrade_settings": {"max_surge": "33%"},
    }


def maintenance_windows(spec: Cluster) -> dict[str, dict]:
    """The node-OS window, and the same window for Kubernetes upgrades from the upgrade channel."""
    window = {
        "schedule": {"weekly": {"day_of_week": spec.maintenance.day.value, "interval_weeks": 1}},
        "duration_hours": spec.maintenance.duration_hours,
        "start_time": f"{spec.maintenance.start_hour:02d}:00",
        "utc_offset": "+00:00",
    }
    return {"aksManagedNodeOSUpgradeSchedule": window, "aksManagedAutoUpgradeSchedule": window}


def _decode_first(kubeconfigs: list | None) -> str:
    import base64

    if not kubeconfigs:
        return ""
    first = kubeconfigs[0]
    value = first.value if hasattr(first, "value") else first["value"]
    return base64.b64decode(value).decode()
