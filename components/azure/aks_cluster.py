"""AksCluster: one AKS cluster in the shape of the AKS baseline (mspnp/aks-baseline).

Every security- and cost-relevant setting is written out, including the ones equal to the
default, so a reviewer sees the whole posture in one place. Deliberately not deployed: a private
API server (authorized IP ranges instead, see apiServerAccessProfile) and a hub-spoke egress
firewall (the edge is public by design: api, web and proxy serve the internet). Monitoring and
Defender are environment switches (cluster.monitoring), on for platform.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import yaml

from components.azure import naming
from components.azure.arm import ArmResource, invoke
from components.azure.grants import role_assignment
from components.azure.monitoring import Monitoring
from components.azure.roles import AKS_RBAC_CLUSTER_ADMIN, definition_id
from components.azure.tags import tags
from infra.config.model import Cluster, NodePool, Region

SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"
"""Keeps workloads off the system pool, so CoreDNS and konnectivity never starve."""
AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The Entra ID application every AKS-managed Entra cluster accepts tokens for: the scope kubelogin requests
(its `--server-id`; MicrosoftDocs/azure-docs#115701)."""


@dataclass(frozen=True)
class AksClusterArgs:
    environment: str
    region: Region
    cluster: Cluster
    resource_group_name: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    deployer_object_id: pulumi.Input[str]
    """The principal running `pulumi up` (getClientConfig().objectId); it applies the Kubernetes layer."""
    monitoring: Monitoring
    """The region's workspaces; the cluster reports into them and attaches its diagnostics."""


class AksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    """The cluster's Azure name."""
    oidc_issuer_url: pulumi.Output[str]
    """Issuer that federated credentials trust (workload identity)."""
    control_plane_principal_id: pulumi.Output[str]
    """The control plane's identity; it needs Network Contributor on the edge IPs."""
    kubeconfig: pulumi.Output[str]
    """Token kubeconfig for the deploying principal, a Pulumi secret; nothing in it logs in interactively."""
    data_plane_grants: list[ArmResource]
    """The Cluster Admin role assignments; the Kubernetes provider must wait for them."""

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:AksCluster", name, None, opts)
        env, region, spec = args.environment, args.region, args.cluster
        # The cluster's node resource group holds every datastore volume, and the identity owns the edge grant:
        # deleting either loses data or the edge, so both are protected (the policy pack requires it).
        keep = pulumi.ResourceOptions(parent=self, protect=True)
        profiles = args.monitoring.cluster_profiles()

        # A user-assigned control-plane identity exists before the cluster, so its role on the
        # public IPs can be granted before the load balancer first needs it.
        control_plane = ArmResource(
            f"{name}-control-plane",
            "azure-native:managedidentity:UserAssignedIdentity",
            {
                "resourceName": naming.identity(env, region.name, "aks"),
                "resourceGroupName": args.resource_group_name,
                "location": region.name,
                "tags": tags(env, region.name, "aks-control-plane"),
            },
            keep,
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
                # Explicit, because the default MC_<rg>_<cluster>_<region> can pass the 80-character limit.
                "nodeResourceGroup": naming.node_resource_group(env, region.name),
                "agentPoolProfiles": agent_pools(spec, region.zones),
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
                    **({"defender": profiles["defender"]} if "defender" in profiles else {}),
                },
                "azureMonitorProfile": profiles["azureMonitorProfile"],
                "enableRBAC": True,
                "aadProfile": {
                    "managed": True,
                    "enableAzureRBAC": True,
                    "tenantID": args.tenant_id,
                    # With Azure RBAC, access comes from role assignments (below), as in the baseline.
                    "adminGroupObjectIDs": [],
                },
                "disableLocalAccounts": not spec.local_accounts,
                # Public API server, narrowed to the listed ranges (production must list some): a private cluster
                # needs a self-hosted runner in the VNet, which this project does not run. Run Command would
                # let any Contributor run kubectl as the cluster, past the authorized ranges; it is off.
                "apiServerAccessProfile": {
                    "authorizedIPRanges": list(spec.authorized_ip_ranges),
                    "disableRunCommand": True,
                },
                "autoUpgradeProfile": {
                    "upgradeChannel": spec.upgrade_channel.value,
                    "nodeOSUpgradeChannel": "NodeImage",
                },
                "autoScalerProfile": {
                    "balanceSimilarNodeGroups": "true",  # keeps the per-zone user pools even when scaling
                    "expander": "least-waste",
                    "skipNodesWithLocalStorage": "false",  # datastores use PVCs, not emptyDir state
                },
                "addonProfiles": {
                    "azurepolicy": {"enabled": True},
                    "azureKeyvaultSecretsProvider": {"enabled": False},  # secrets come from Pulumi, not Key Vault
                    "httpApplicationRouting": {"enabled": False},
                    "omsagent": profiles["omsagent"],
                },
                "storageProfile": {
                    "diskCSIDriver": {"enabled": True},  # managed-csi-premium volumes for the datastores
                    "fileCSIDriver": {"enabled": False},
                    "blobCSIDriver": {"enabled": False},
                    "snapshotController": {"enabled": True},
                },
                "tags": tags(env, region.name, "aks"),
            },
            # The autoscaler moves each pool's count between min and max; sending min back would fight it, and
            # a nightly `preview --refresh --expect-no-changes` would report it (pulumi/pulumi-azure-native#4264).
            pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(ignore_changes=["agentPoolProfiles[*].count"])),
            reads=["oidcIssuerProfile"],
        )
        args.monitoring.attach(cluster)
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
        # With Azure RBAC for Kubernetes authorization, subscription Owner grants no DataActions: without these
        # every Kubernetes call is 403 (mspnp/aks-baseline cluster-stamp.bicep assigns the same role;
        # https://learn.microsoft.com/azure/aks/manage-azure-rbac).
        admin = pulumi.Output.from_input(args.subscription_id).apply(
            lambda sub: definition_id(sub, AKS_RBAC_CLUSTER_ADMIN)
        )
        at_cluster = pulumi.ResourceOptions(parent=cluster)
        self.data_plane_grants = [
            role_assignment(
                f"{name}-deployer-admin",
                scope=cluster.id,
                principal_id=args.deployer_object_id,
                principal_type="ServicePrincipal",  # CI deploys as a GitHub OIDC service principal
                role_definition_id=admin,
                opts=at_cluster,
            ),
            role_assignment(
                f"{name}-operators-admin",
                scope=cluster.id,
                principal_id=spec.operators_group_id,
                principal_type="Group",
                role_definition_id=admin,
                opts=at_cluster,
            ),
        ]
        self.kubeconfig = pulumi.Output.secret(self._token_kubeconfig(args.resource_group_name, cluster))

        self.name = cluster.output("name")
        self.oidc_issuer_url = cluster.output("oidcIssuerProfile").apply(lambda p: (p or {}).get("issuerURL") or "")
        self.control_plane_principal_id = control_plane.output("principalId")
        self.register_outputs(
            {
                "name": self.name,
                "oidc_issuer_url": self.oidc_issuer_url,
                "control_plane_principal_id": self.control_plane_principal_id,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _token_kubeconfig(self, resource_group_name: pulumi.Input[str], cluster: ArmResource) -> pulumi.Output[str]:
        """The cluster's server and CA with a bearer token of the deploying principal: no exec plugin at all.

        Why `getClientToken` and not kubelogin: AKS hands out an exec kubeconfig that runs
        `kubelogin get-token --login devicecode`, which CI does not have and which blocks on an interactive login
        (SDK docstring of list_managed_cluster_user_credentials `format`; Azure/kubelogin
        docs/book/src/cli/get-token.md; pulumi/pulumi-azure-native#2399). `--login azurecli` after azure/login
        fails once the GitHub assertion has expired, before the cluster exists (Azure/azure-cli#28708), and
        `--login workloadidentity` would need a loop refreshing the federated token file for the whole run. The
        azure-native provider already holds the deployer's credential: with ARM_USE_OIDC it requests a fresh GitHub
        assertion for every token (pulumi/pulumi-azure-native provider/pkg/provider/auth_azidentity.go,
        getOidcTokenExchangeAssertion), and getClientToken asks for scope `<endpoint>/.default`
        (provider/pkg/provider/provider.go, tokenRequestOpts), here the AKS server application. The token is
        requested only once the cluster and the grants exist (the endpoint waits on them), so its 60-90 minutes
        start when the Kubernetes layer does. Trade-off: every run gets a new token, so the provider's
        kubeconfig input differs run to run; `clusterIdentifier` keeps that an update, never a replacement.
        """
        credentials = invoke(
            "azure-native:containerservice:listManagedClusterUserCredentials",
            {"resourceGroupName": resource_group_name, "resourceName": cluster.output("name")},
        )
        ready = [cluster.id, *(grant.id for grant in self.data_plane_grants)]
        endpoint = pulumi.Output.all(*ready).apply(lambda _: AKS_SERVER_APP)
        token = invoke("azure-native:authorization:getClientToken", {"endpoint": endpoint})
        return pulumi.Output.all(credentials, token).apply(lambda ct: token_kubeconfig(ct[0], ct[1]))


def agent_pools(spec: Cluster, zones: Sequence[str]) -> list[dict]:
    """The system pool across `zones`, and one user pool per zone.

    The datastores' Premium_LRS disks are zonal: a pod whose disk is in zone 2 can only run there. The
    autoscaler cannot pick the zone of a new node in a multi-zone pool, so the user pool is split per zone and
    balance-similar-node-groups keeps the three even (kubernetes/autoscaler cluster-autoscaler/FAQ.md, "nodes
    in multiple zones"). The model makes the user pool's counts divisible by the zone count.
    """
    user, share = spec.user_pool, len(zones)
    pools = [agent_pool(spec.system_pool, list(zones), system=True)]
    for zone in zones:
        per_zone = user.model_copy(
            update={
                "name": f"{user.name}{zone}",
                "min_count": user.min_count // share,
                "max_count": user.max_count // share,
            }
        )
        pools.append(agent_pool(per_zone, [zone], system=False))
    return pools


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
        "osDiskType": "Ephemeral",  # faster reimage, no disk cost; the model checks the size fits the temp disk
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


def token_kubeconfig(credentials: dict | None, token: dict | None) -> str:
    """A kubeconfig with the first credential's cluster (server, CA) and `token` as its only user."""
    kubeconfigs = (credentials or {}).get("kubeconfigs") or []
    bearer = (token or {}).get("token")
    if not kubeconfigs or not bearer:
        return ""
    aks = yaml.safe_load(base64.b64decode(kubeconfigs[0]["value"]))
    cluster = aks["clusters"][0]
    user = "deployer"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster["name"], "cluster": cluster["cluster"]}],
            "users": [{"name": user, "user": {"token": bearer}}],
            "contexts": [{"name": cluster["name"], "context": {"cluster": cluster["name"], "user": user}}],
            "current-context": cluster["name"],
        },
        sort_keys=False,
    )
