"""EdgeIps: one static public IP each for api, web and proxy, in a resource group of their own.

They are load-balanced separately, so each gets its own frontend. Standard SKU across zones
1-3 survives a zone outage; the addresses are protected and retained because DNS points at
them and a new address means waiting out TTLs.

The group holds nothing but these IPs, because the AKS control plane needs Network Contributor on
the whole group: cloud-provider-azure finds a named IP by *listing* the group's public IPs
(kubernetes-sigs/cloud-provider-azure pkg/provider/azure_publicip_repo.go, the `newPIPCache` getter),
which a role on each IP does not authorize; Microsoft's static-IP guide grants on the group
(MicrosoftDocs/azure-aks-docs articles/aks/static-ip.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource
from components.azure.grants import role_assignment
from components.azure.roles import NETWORK_CONTRIBUTOR, definition_id
from components.azure.tags import tags

EDGE_ROLES = ("api", "web", "proxy")


@dataclass(frozen=True)
class EdgeIpsArgs:
    environment: str
    region: str
    zones: list[str]
    subscription_id: pulumi.Input[str]
    cluster_principal_id: pulumi.Input[str]
    """The AKS control plane's identity, which attaches the IPs to its load balancer."""


class EdgeIps(pulumi.ComponentResource):
    names: dict[str, pulumi.Output[str]]
    """role → IP name, for the Service annotation azure-pip-name."""
    addresses: dict[str, pulumi.Output[str]]
    """role → address, for the DNS A records."""
    resource_group_name: pulumi.Output[str]
    """The IPs' group, for the Service annotation; known only once the control plane may read it, so every
    Service that names it waits for the grant."""

    def __init__(self, name: str, args: EdgeIpsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:EdgeIps", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        group = ArmResource(
            f"{name}-rg",
            "azure-native:resources:ResourceGroup",
            {
                "resourceGroupName": naming.resource_group(args.environment, args.region, "edge"),
                "location": args.region,
                "tags": tags(args.environment, args.region, "edge"),
            },
            keep,
        )
        grant = role_assignment(
            f"{name}-cluster",
            scope=group.id,
            principal_id=args.cluster_principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=pulumi.Output.from_input(args.subscription_id).apply(
                lambda sub: definition_id(sub, NETWORK_CONTRIBUTOR)
            ),
            opts=pulumi.ResourceOptions(parent=group),
        )
        self.names, self.addresses = {}, {}
        for role in EDGE_ROLES:
            ip = ArmResource(
                f"{name}-{role}",
                "azure-native:network:PublicIPAddress",
                {
                    "publicIpAddressName": naming.public_ip(args.environment, args.region, role),
                    "resourceGroupName": group.output("name"),
                    "location": args.region,
                    "sku": {"name": "Standard", "tier": "Regional"},
                    "publicIPAllocationMethod": "Static",
                    "publicIPAddressVersion": "IPv4",
                    "zones": list(args.zones),
                    "idleTimeoutInMinutes": 4,
                    # Accepted risk (cost): DDoS IP Protection is billed per address per month; without it the
                    # addresses get Azure's always-on infrastructure protection only, and no WAF sits in front
                    # (the edge is Envoy on a public load balancer by design). Enabled buys it per IP.
                    "ddosSettings": {"protectionMode": "Disabled"},
                    "tags": tags(args.environment, args.region, f"edge-{role}"),
                },
                keep,
                reads=["ipAddress"],
            )
            self.names[role] = ip.output("name")
            self.addresses[role] = ip.output("ipAddress").apply(lambda a: a or "")
        self.resource_group_name = pulumi.Output.all(group.output("name"), grant.id).apply(lambda ng: str(ng[0]))
        self.register_outputs(
            {"names": self.names, "addresses": self.addresses, "resource_group_name": self.resource_group_name}
        )
