"""The Azure region under traceable mocks: what exists, and what points at what."""

from __future__ import annotations

import base64
import re

import pytest
import yaml

from components.azure import naming
from components.azure.aks_cluster import AKS_SERVER_APP, token_kubeconfig
from components.azure.azure_region import AzureRegion, AzureRegionArgs
from components.azure.backup_storage import retention_rule
from components.azure.dns_records import records
from components.azure.dns_zones import DnsZones, DnsZonesArgs
from components.azure.roles import (
    AKS_RBAC_CLUSTER_ADMIN,
    DNS_ZONE_CONTRIBUTOR,
    NETWORK_CONTRIBUTOR,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
)
from components.kubernetes.contracts import CERT_MANAGER_SA, COCKROACH_SA
from components.kubernetes.edge import PIP_RESOURCE_GROUP
from infra.config.loader import load_environment
from infra.config.regions import AZURE_REGIONS
from infra.plan import computed
from infra.plan.engine import Graph, Registration

from .conftest import ROOT, component_graph, stack_graph

_graphs: dict[tuple[str, str | None], Graph] = {}

PIP = "azure-native:network:PublicIPAddress"
ZONE = "azure-native:dns:Zone"
RECORD = "azure-native:dns:RecordSet"
ROLE = "azure-native:authorization:RoleAssignment"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CLUSTER = "azure-native:containerservice:ManagedCluster"
GROUP = "azure-native:resources:ResourceGroup"
LOCK = "azure-native:authorization:ManagementLockByScope"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
INTERACTIVE = re.compile(r"devicecode|interactive|kubelogin|exec:|auth-provider", re.IGNORECASE)
"""What a kubeconfig that logs in by asking someone (or needs a login binary) contains."""


def region_graph(env_name: str, owner_stack: str | None = None) -> Graph:
    """DnsZones + AzureRegion for an environment, as the program builds them."""
    key = (env_name, owner_stack)
    if key not in _graphs:
        env = load_environment(ROOT / "environments" / f"{env_name}.yaml")

        def build() -> None:
            zones = DnsZones(env.name, DnsZonesArgs(env, env.regions[0].name, owner_stack))
            AzureRegion(
                f"{env.name}-uksouth",
                AzureRegionArgs(env, env.regions[0], zones, primary=owner_stack is None),
            )

        _graphs[key] = component_graph(build, env_name)
    return _graphs[key]


@pytest.fixture(params=["staging", "platform"])
def cloud(request: pytest.FixtureRequest) -> Graph:
    return region_graph(request.param)


def roles(graph: Graph, role: str) -> list[Registration]:
    return [r for r in graph.of_type(ROLE) if r.inputs["roleDefinitionId"].endswith(role)]


def test_zones_are_the_environments_zones(cloud: Graph) -> None:
    expected = {"staging": ["m3o.dev"], "platform": ["m3o.com", "m3o.app"]}[cloud.stack]
    assert sorted(z.inputs["zoneName"] for z in cloud.of_type(ZONE)) == sorted(expected)


def test_stateful_resources_are_protected_and_retained(cloud: Graph) -> None:
    stateful = [
        *cloud.of_type(ZONE),
        *cloud.of_type(PIP),
        *cloud.of_type("azure-native:storage:StorageAccount"),
        *cloud.of_type("azure-native:storage:BlobContainer"),
        *cloud.of_type("azure-native:resources:ResourceGroup"),
    ]
    assert len(stateful) >= 8
    for r in stateful:
        assert r.protect and r.retain_on_delete, f"{r.urn} must be protected and retained on delete"


def test_caa_allows_only_letsencrypt(cloud: Graph) -> None:
    caa = [r for r in cloud.of_type(RECORD) if r.inputs["recordType"] == "CAA"]
    assert len(caa) == len(cloud.of_type(ZONE))
    for record in caa:
        issuers = {c["value"] for c in record.inputs["caaRecords"] if c["tag"] in ("issue", "issuewild")}
        assert issuers == {"letsencrypt.org"}, record.urn
        assert {c["tag"] for c in record.inputs["caaRecords"]} >= {"issue", "issuewild"}


def test_three_zone_redundant_static_ips(cloud: Graph) -> None:
    ips = cloud.of_type(PIP)
    assert sorted(ip.inputs["publicIpAddressName"] for ip in ips) == sorted(
        naming.public_ip(cloud.stack, "uksouth", role) for role in ("api", "web", "proxy")
    )
    for ip in ips:
        assert ip.inputs["sku"]["name"] == "Standard", ip.urn
        assert ip.inputs["publicIPAllocationMethod"] == "Static", ip.urn
        assert ip.inputs["zones"] == ["1", "2", "3"], ip.urn


def test_cluster_identity_may_list_the_ips_group_which_holds_only_the_ips(cloud: Graph) -> None:
    """cloud-provider-azure lists the group's IPs to find one by name: a role on each IP is not enough."""
    control_plane = cloud.one(IDENTITY, f"{cloud.stack}-uksouth-aks-control-plane")
    edge_group = cloud.one(GROUP, f"{cloud.stack}-uksouth-edge-rg")
    (grant,) = roles(cloud, NETWORK_CONTRIBUTOR)
    assert (
        grant.inputs["scope"]
        == f"{SUB}/resourceGroups/{edge_group.inputs['resourceGroupName']}/providers/ResourceGroup/{edge_group.inputs['resourceGroupName']}"
    )
    assert grant.inputs["principalId"] == f"principal-id-of-{control_plane.name}"
    held = [
        r for r in cloud.registrations if r.inputs.get("resourceGroupName") == edge_group.inputs["resourceGroupName"]
    ]
    assert {r.type for r in held} - {GROUP} == {PIP}, "the edge group holds the public IPs and nothing else"
    assert len(held) == 1 + 3


def test_envoy_services_wait_for_the_network_grant() -> None:
    """The Service's resource-group annotation is an output of the grant: the first sync cannot beat it."""
    graph = stack_graph("staging")
    (grant,) = roles(graph, NETWORK_CONTRIBUTOR)
    proxies = graph.of_type("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    assert len(proxies) == 3
    for proxy in proxies:
        assert grant.urn in proxy.dependencies, proxy.urn
        service = proxy.inputs["spec"]["provider"]["kubernetes"]["envoyService"]
        assert service["annotations"][PIP_RESOURCE_GROUP] == "rg-micro-staging-uksouth-edge"


def test_kubeconfigs_log_in_without_anyone_and_without_kubelogin(cloud: Graph) -> None:
    """AKS hands out `kubelogin --login devicecode`; the provider gets the CA, the server and a token instead."""
    (provider,) = cloud.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    config = yaml.safe_load(provider.raw_inputs()["kubeconfig"])
    cluster = f"aks-micro-{cloud.stack}-uksouth"
    assert config["clusters"] == [
        {
            "name": cluster,
            "cluster": {
                "certificate-authority-data": f"ca-of-{cluster}",
                "server": f"https://{cluster}.hcp.example:443",
            },
        }
    ]
    ((user,),) = [[u["user"] for u in config["users"]]]
    assert user == {"token": f"token-for-{AKS_SERVER_APP}"}, "a bearer token for the AKS server app, nothing else"
    assert "exec" not in provider.raw_inputs()["kubeconfig"] and "devicecode" not in provider.raw_inputs()["kubeconfig"]
    assert provider.inputs["clusterIdentifier"] == cluster


def test_the_token_kubeconfig_drops_every_interactive_user() -> None:
    aks = base64.b64encode(computed.kubeconfig("aks-x").encode()).decode()
    assert "devicecode" in base64.b64decode(aks).decode(), "the fixture is what AKS returns"
    built = token_kubeconfig({"kubeconfigs": [{"name": "clusterUser", "value": aks}]}, {"token": "t"})
    assert INTERACTIVE.search(built) is None, built
    assert yaml.safe_load(built)["users"] == [{"name": "deployer", "user": {"token": "t"}}]


def test_the_deployer_and_the_operators_administer_the_cluster_before_the_provider_connects(cloud: Graph) -> None:
    cluster = cloud.one(CLUSTER, f"{cloud.stack}-uksouth-aks-cluster")
    grants = roles(cloud, AKS_RBAC_CLUSTER_ADMIN)
    env = load_environment(ROOT / "environments" / f"{cloud.stack}.yaml")
    assert {(g.inputs["principalId"], g.inputs["principalType"]) for g in grants} == {
        ("plan-object", "ServicePrincipal"),
        (env.regions[0].cluster.operators_group_id, "Group"),
    }
    assert {g.inputs["scope"] for g in grants} == {
        f"{SUB}/resourceGroups/rg-micro-{cloud.stack}-uksouth/providers/ManagedCluster/{cluster.inputs['resourceName']}"
    }
    (provider,) = cloud.of_type("pulumi:providers:kubernetes")
    assert {g.urn for g in grants} <= set(provider.dependencies), "the provider waits for the grants"
    assert cluster.inputs["aadProfile"]["adminGroupObjectIDs"] == []


def test_records_are_created_after_their_zone(cloud: Graph) -> None:
    zones = {z.inputs["zoneName"]: z.urn for z in cloud.of_type(ZONE)}
    for record in cloud.of_type(RECORD):
        assert zones[record.inputs["zoneName"]] in record.dependencies, f"{record.urn} does not wait for its zone"


def test_records_point_at_the_ips(cloud: Graph) -> None:
    by_name = {(r.inputs["zoneName"], r.inputs["relativeRecordSetName"]): r for r in cloud.of_type(RECORD)}
    ip = {role: f"ip-of-{cloud.stack}-uksouth-edge-{role}" for role in ("api", "web", "proxy")}
    zone = {"staging": "m3o.dev", "platform": "m3o.com"}[cloud.stack]
    apps_zone = {"staging": "m3o.dev", "platform": "m3o.app"}[cloud.stack]
    for role in ("api", "web", "proxy"):
        for relative in (role, f"{role}.uksouth"):
            record = by_name[(zone, relative)]
            assert record.inputs["aRecords"] == [{"ipv4Address": ip[role]}], record.urn
    wildcard = by_name[(apps_zone, "*")]
    assert wildcard.inputs["aRecords"] == [{"ipv4Address": ip["api"]}], wildcard.urn


def test_cert_manager_identity_is_federated_with_its_service_account(cloud: Graph) -> None:
    federation = cloud.one(FEDERATION, f"{cloud.stack}-uksouth-cert-manager-federation")
    assert federation.inputs["subject"] == CERT_MANAGER_SA.subject == "system:serviceaccount:cert-manager:cert-manager"
    assert federation.inputs["issuer"] == f"https://oidc.example/{cloud.stack}-uksouth-aks-cluster/"
    assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert federation.inputs["resourceName"] == naming.identity(cloud.stack, "uksouth", "certmanager")


def custom_role(graph: Graph, suffix: str) -> Registration:
    (role,) = [r for r in graph.of_type(ROLE_DEFINITION) if r.inputs["roleName"].endswith(suffix)]
    return role


def granted(graph: Graph, role: Registration) -> list[Registration]:
    return [r for r in graph.of_type(ROLE) if r.inputs["roleDefinitionId"] == role_definition_urn_id(role)]


def role_definition_urn_id(role: Registration) -> str:
    return f"{SUB}/resourceGroups/rg/providers/RoleDefinition/{role.inputs['roleDefinitionId']}"


def test_cert_manager_may_write_txt_records_of_exactly_the_zones_and_nothing_else(cloud: Graph) -> None:
    role = custom_role(cloud, "-acme-dns01")
    (permissions,) = role.inputs["permissions"]
    assert permissions["actions"] == ["Microsoft.Network/dnsZones/read", "Microsoft.Network/dnsZones/TXT/*"]
    assert permissions["dataActions"] == []
    assert role.inputs["assignableScopes"] == [f"{SUB}/resourceGroups/rg-micro-{cloud.stack}-uksouth-dns"]
    zone_ids = sorted(
        f"{SUB}/resourceGroups/rg-micro-{cloud.stack}-uksouth-dns/providers/Zone/{z.inputs['zoneName']}"
        for z in cloud.of_type(ZONE)
    )
    grants = granted(cloud, role)
    assert sorted(g.inputs["scope"] for g in grants) == zone_ids
    for grant in grants:
        assert grant.inputs["principalId"] == f"principal-id-of-{cloud.stack}-uksouth-cert-manager-identity"
    assert roles(cloud, DNS_ZONE_CONTRIBUTOR) == [], "DNS Zone Contributor may rewrite A records and delete zones"


def test_every_zone_is_locked_against_deletion_without_blocking_txt_cleanup(cloud: Graph) -> None:
    locks = {r.inputs["scope"]: r for r in cloud.of_type(LOCK)}
    for zone in cloud.of_type(ZONE):
        zone_id = f"{SUB}/resourceGroups/{zone.inputs['resourceGroupName']}/providers/Zone/{zone.inputs['zoneName']}"
        assert f"{zone_id}/SOA/@" in locks, f"{zone.urn} has no CanNotDelete lock"
        assert locks[f"{zone_id}/SOA/@"].inputs["level"] == "CanNotDelete"
        assert zone_id not in locks, "a lock on the zone itself is inherited by the TXT records cert-manager deletes"


def test_backups_survive_a_compromised_writer(cloud: Graph) -> None:
    account = cloud.one("azure-native:storage:StorageAccount", f"{cloud.stack}-uksouth-backups-account")
    assert account.inputs["allowSharedKeyAccess"] is False and account.inputs["allowBlobPublicAccess"] is False
    assert account.inputs["sku"]["name"] == "Standard_ZRS" and account.inputs["accessTier"] == "Hot"
    protection = cloud.one("azure-native:storage:BlobServiceProperties", f"{cloud.stack}-uksouth-backups-protection")
    for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
        assert protection.inputs[policy]["enabled"] is True and protection.inputs[policy]["days"] >= 14
    assert protection.inputs["isVersioningEnabled"] is True
    account_id = (
        f"{SUB}/resourceGroups/rg-micro-{cloud.stack}-uksouth/providers/StorageAccount/{account.inputs['accountName']}"
    )
    assert {r.inputs["scope"]: r.inputs["level"] for r in cloud.of_type(LOCK)}[account_id] == "CanNotDelete"
    writer = custom_role(cloud, "-backup-writer")
    (permissions,) = writer.inputs["permissions"]
    assert not [
        a for a in permissions["actions"] + permissions["dataActions"] if "delete" in a.lower() or a.endswith("*")
    ]
    (grant,) = granted(cloud, writer)
    assert grant.inputs["scope"].endswith("/BlobContainer/cockroach-backups"), grant.inputs["scope"]
    assert grant.inputs["principalId"] == f"principal-id-of-{cloud.stack}-uksouth-cockroach-identity"
    assert roles(cloud, STORAGE_BLOB_DATA_CONTRIBUTOR) == [], "Blob Data Contributor may delete every backup"
    federation = cloud.one(FEDERATION, f"{cloud.stack}-uksouth-cockroach-federation")
    assert federation.inputs["subject"] == COCKROACH_SA.subject


@pytest.mark.parametrize(("days", "cool"), [(7, False), (30, False), (37, True), (90, True)])
def test_backups_go_cool_only_when_they_stay_its_minimum(days: int, cool: bool) -> None:
    rule = retention_rule(days)["definition"]["actions"]
    assert rule["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": days}
    assert rule["version"]["delete"] == {"daysAfterCreationGreaterThan": days}, "old versions expire too"
    assert ("tierToCool" in rule["baseBlob"]) is cool
    if cool:
        assert days - rule["baseBlob"]["tierToCool"]["daysAfterModificationGreaterThan"] >= 30


def test_the_cluster_and_its_identity_are_protected_and_autoscaled_counts_are_not_drift(cloud: Graph) -> None:
    cluster = cloud.one(CLUSTER, f"{cloud.stack}-uksouth-aks-cluster")
    identity = cloud.one(IDENTITY, f"{cloud.stack}-uksouth-aks-control-plane")
    assert cluster.protect and identity.protect
    assert "agentPoolProfiles[*].count" in cluster.ignore_changes


def test_role_assignment_names_follow_scope_principal_and_role(cloud: Graph) -> None:
    for grant in cloud.of_type(ROLE):
        i = grant.inputs
        assert i["roleAssignmentName"] == naming.role_assignment(i["scope"], i["principalId"], i["roleDefinitionId"])
    assert len({g.inputs["roleAssignmentName"] for g in cloud.of_type(ROLE)}) == len(cloud.of_type(ROLE))


def test_monitoring_is_on_for_platform_and_a_switch_elsewhere() -> None:
    platform = region_graph("platform")
    cluster = platform.one(CLUSTER, "platform-uksouth-aks-cluster")
    (workspace,) = platform.of_type("azure-native:operationalinsights:Workspace")
    workspace_id = (
        f"{SUB}/resourceGroups/rg-micro-platform-uksouth/providers/Workspace/{workspace.inputs['workspaceName']}"
    )
    (audit,) = platform.of_type("azure-native:monitor:DiagnosticSetting")
    assert audit.inputs["resourceUri"] == cluster_id("platform") and audit.inputs["workspaceId"] == workspace_id
    assert {log["category"] for log in audit.inputs["logs"]} == {"kube-audit-admin", "guard"}
    defender = cluster.inputs["securityProfile"]["defender"]
    assert defender == {"logAnalyticsWorkspaceResourceId": workspace_id, "securityMonitoring": {"enabled": True}}
    assert cluster.inputs["azureMonitorProfile"] == {"metrics": {"enabled": True}}
    (association,) = platform.of_type("azure-native:monitor:DataCollectionRuleAssociation")
    assert association.inputs["resourceUri"] == cluster_id("platform")
    (policy,) = platform.of_type("azure-native:authorization:PolicyAssignment")
    assert policy.inputs["policyDefinitionId"].endswith("/policySetDefinitions/42b8ef37-b724-4e24-bbc8-7a7708edfe00")
    assert policy.inputs["parameters"] == {"effect": {"value": "audit"}} and policy.inputs["scope"] == cluster_id(
        "platform"
    )
    staging = region_graph("staging")
    assert staging.of_type("azure-native:operationalinsights:Workspace") == []
    assert "defender" not in staging.one(CLUSTER, "staging-uksouth-aks-cluster").inputs["securityProfile"]


def cluster_id(stack: str) -> str:
    return f"{SUB}/resourceGroups/rg-micro-{stack}-uksouth/providers/ManagedCluster/aks-micro-{stack}-uksouth"


def test_aks_has_the_baseline_shape(cloud: Graph) -> None:
    cluster = cloud.one(CLUSTER, f"{cloud.stack}-uksouth-aks-cluster").inputs
    system, *users = cluster["agentPoolProfiles"]
    assert system["mode"] == "System" and system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert system["availabilityZones"] == ["1", "2", "3"]
    # One user pool per zone: a datastore pod's zonal disk can always get a node in its zone.
    assert [(u["name"], u["availabilityZones"]) for u in users] == [
        ("micro1", ["1"]),
        ("micro2", ["2"]),
        ("micro3", ["3"]),
    ]
    for user in users:
        assert user["mode"] == "User" and user["enableAutoScaling"] is True and user["minCount"] < user["maxCount"]
    assert cluster["autoScalerProfile"]["balanceSimilarNodeGroups"] == "true"
    assert cluster["apiServerAccessProfile"]["disableRunCommand"] is True
    assert len(cluster["nodeResourceGroup"]) <= 80
    net = cluster["networkProfile"]
    assert (net["networkPlugin"], net["networkPluginMode"], net["networkPolicy"]) == ("azure", "overlay", "cilium")
    assert cluster["oidcIssuerProfile"] == {"enabled": True}
    assert cluster["securityProfile"]["workloadIdentity"] == {"enabled": True}
    assert cluster["aadProfile"]["managed"] is True and cluster["aadProfile"]["enableAzureRBAC"] is True
    assert cluster["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    windows = [
        r
        for r in cloud.of_type("azure-native:containerservice:MaintenanceConfiguration")
        if r.inputs["configName"] == "aksManagedNodeOSUpgradeSchedule"
    ]
    assert windows and windows[0].inputs["maintenanceWindow"]["schedule"]["weekly"]["intervalWeeks"] == 1


def test_platform_is_standard_tier_without_local_accounts() -> None:
    platform = region_graph("platform").one(CLUSTER, "platform-uksouth-aks-cluster").inputs
    staging = region_graph("staging").one(CLUSTER, "staging-uksouth-aks-cluster").inputs
    assert platform["disableLocalAccounts"] is True and platform["sku"]["tier"] == "Standard"
    assert staging["disableLocalAccounts"] is True and staging["sku"]["tier"] == "Free"
    assert platform["apiServerAccessProfile"]["authorizedIPRanges"], "production's API server is not open to all"


def test_region_stack_references_the_zones_instead_of_owning_them() -> None:
    graph = region_graph("staging", owner_stack="staging")
    assert graph.of_type(ZONE) == []
    (ref,) = graph.of_type("pulumi:pulumi:StackReference")
    assert ref.name == "staging-zones-owner"
    relatives = sorted(r.inputs["relativeRecordSetName"] for r in graph.of_type(RECORD))
    assert relatives == ["api.uksouth", "proxy.uksouth", "web.uksouth"]
    (grant,) = granted(graph, custom_role(graph, "-acme-dns01"))
    assert grant.inputs["scope"].endswith("/providers/Microsoft.Network/dnszones/m3o.dev")


def test_record_plan_for_a_secondary_region() -> None:
    env = load_environment(ROOT / "environments" / "platform.yaml")
    planned = records(env.dns, "westeurope", primary=False)
    assert set(planned) == {"api.westeurope.m3o.com", "web.westeurope.m3o.com", "proxy.westeurope.m3o.com"}


@pytest.mark.parametrize("region", sorted(AZURE_REGIONS))
def test_names_follow_azure_rules_in_every_region(region: str) -> None:
    for env in ("local", "staging", "platform", "abcdefghijkl"):
        assert re.fullmatch(r"[a-z0-9]{3,24}", naming.storage_account(env, region, "backup", SUB))
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,61}[A-Za-z0-9]", naming.cluster(env, region))
        assert len(naming.resource_group(env, region, "dns")) <= 90
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}", naming.identity(env, region, "certmanager"))
        assert len(naming.public_ip(env, region, "proxy")) <= 80
        assert env in naming.cluster(env, region) and region in naming.cluster(env, region)


def test_storage_names_stay_unique_when_cut() -> None:
    names = {
        naming.storage_account(env, region, "backup", SUB)
        for env in ("staging", "platform")
        for region in AZURE_REGIONS
    }
    assert len(names) == 2 * len(AZURE_REGIONS)


def test_role_assignment_names_are_stable_guids() -> None:
    first = naming.role_assignment("scope", "principal", DNS_ZONE_CONTRIBUTOR)
    assert first == naming.role_assignment("scope", "principal", DNS_ZONE_CONTRIBUTOR)
    assert re.fullmatch(r"[0-9a-f-]{36}", first)
    assert first != naming.role_assignment("scope", "recreated-principal", DNS_ZONE_CONTRIBUTOR)
