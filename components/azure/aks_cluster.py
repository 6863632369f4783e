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

from components.azure import naming
from components.azure.arm import ArmResource, invoke
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
        control_plane = ArmResource(
            f"{name}-control-plane",
            "azure-native:managedidentity:UserAssignedIdentity",
            {
                "resourceName": naming.identity(env, region.name, "aks"),
                "resourceGroupName": args.resource_group_name,
                "location": region.name,
            },
            child,
            reads=["principalId"],
        )
        cluster = ArmResource(
            f"{name}-cluster",
            "azure-native:containerservice:ManagedCluster",
            {
                "resourceName": naming.cluster(env, region.name),
                "resourceGroupName": args.resource_group_name,
                "location": region.name,
                "dnsPrefix": naming.cluster(env, region.name),
                "kubernetesVersion": spec.kubernetes_version,
                "sku": {"name": "Base", "tier": spec.tier.value},
                "identity": {"type": "UserAssigned", "userAssignedIdentities": [control_plane.id]},
                "agentPoolProfiles": [
                    agent_pool(spec.system_pool, region.zones, system=True),
                    agent_pool(spec.user_pool, region.zones, system=False),
                ],
                "networkProfile": {
                    # Overlay: pods get addresses from a private CIDR, so the VNet is not sized per pod.
                    "networkPlugin": "azure",
                    "networkPluginMode": "overlay",
                    "networkDataplane": "cilium",
                    "networkPolicy": "cilium",
                    "podCidr": "10.244.0.0/16",
                    "serviceCidr": "10.0.0.0/16",
                    "dnsServiceIP": "10.0.0.10",
                    "loadBalancerSku": "standard",
                    "outboundType": "loadBalancer",
                },
                "oidcIssuerProfile": {"enabled": True},
                "securityProfile": {
                    "workloadIdentity": {"enabled": True},
                    "imageCleaner": {"enabled": True, "intervalHours": 168},  # weekly
                },
                "enableRBAC": True,
                "aadProfile": {
                    "managed": True,
                    "enableAzureRBAC": True,
                    "tenantID": args.tenant_id,
                    "adminGroupObjectIDs": list(spec.admin_group_ids),
                },
                "disableLocalAccounts": not spec.local_accounts,
                "apiServerAccessProfile": {"authorizedIPRanges": list(spec.authorized_ip_ranges)},
                "autoUpgradeProfile": {
                    "upgradeChannel": spec.upgrade_channel.value,
                    "nodeOSUpgradeChannel": "NodeImage",
                },
                "autoScalerProfile": {
                    "balanceSimilarNodeGroups": "true",  # keeps zones even when scaling
                    "expander": "least-waste",
                    "skipNodesWithLocalStorage": "false",  # datastores use PVCs, not emptyDir state
                },
                "addonProfiles": {
                    "azurepolicy": {"enabled": True},
                    "azureKeyvaultSecretsProvider": {"enabled": False},  # secrets come from Pulumi, not Key Vault
                    "httpApplicationRouting": {"enabled": False},
                    "omsagent": {"enabled": False},  # enable with a Log Analytics workspace
                },
                "storageProfile": {
                    "diskCSIDriver": {"enabled": True},  # managed-csi-premium volumes for the datastores
                    "fileCSIDriver": {"enabled": False},
                    "blobCSIDriver": {"enabled": False},
                    "snapshotController": {"enabled": True},
                },
                "tags": {"environment": env, "region": region.name, "managed-by": "pulumi"},
            },
            child,
            reads=["oidcIssuerProfile"],
        )
        for config_name, schedule in maintenance_windows(spec).items():
            ArmResource(
                f"{name}-{config_name}",
                "azure-native:containerservice:MaintenanceConfiguration",
                {
                    "configName": config_name,
                    "resourceGroupName": args.resource_group_name,
                    "resourceName": cluster.output("name"),
                    "maintenanceWindow": schedule,
                },
                pulumi.ResourceOptions(parent=cluster),
            )
        credentials = invoke(
            "azure-native:containerservice:listManagedClusterUserCredentials",
            {
                "resourceGroupName": args.resource_group_name,
                "resourceName": cluster.output("name"),
                # kubelogin turns the Entra ID login into a token, so no static credential is handed out.
                "format": "exec",
            },
        )

        self.name = cluster.output("name")
        self.oidc_issuer_url = cluster.output("oidcIssuerProfile").apply(lambda p: (p or {}).get("issuerURL") or "")
        self.control_plane_principal_id = control_plane.output("principalId")
        self.kubeconfig = pulumi.Output.secret(credentials.apply(lambda c: _decode_first((c or {}).get("kubeconfigs"))))
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
        "vmSize": pool.vm_size,
        "osType": "Linux",
        "osSKU": "AzureLinux",
        "osDiskSizeGB": pool.os_disk_gb,
        "osDiskType": "Ephemeral",  # faster reimage, no disk cost; the VM sizes above have a cache disk
        "availabilityZones": list(zones),
        "enableAutoScaling": True,
        "count": pool.min_count,
        "minCount": pool.min_count,
        "maxCount": pool.max_count,
        "maxPods": 110,
        "enableNodePublicIP": False,
        "nodeTaints": [SYSTEM_TAINT] if system else [],
        "upgradeSettings": {"maxSurge": "33%"},
    }


def maintenance_windows(spec: Cluster) -> dict[str, dict]:
    """The node-OS window, and the same window for Kubernetes upgrades from the upgrade channel."""
    window = {
        "schedule": {"weekly": {"dayOfWeek": spec.maintenance.day.value, "intervalWeeks": 1}},
        "durationHours": spec.maintenance.duration_hours,
        "startTime": f"{spec.maintenance.start_hour:02d}:00",
        "utcOffset": "+00:00",
    }
    return {"aksManagedNodeOSUpgradeSchedule": window, "aksManagedAutoUpgradeSchedule": window}


def _decode_first(kubeconfigs: list[dict[str, str]] | None) -> str:
    import base64

    return base64.b64decode(kubeconfigs[0]["value"]).decode() if kubeconfigs else ""
