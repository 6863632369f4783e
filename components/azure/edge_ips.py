"""EdgeIps: one static public IP each for api, web and proxy.

They are load-balanced separately, so each gets its own frontend. Standard SKU across zones
1-3 survives a zone outage; the addresses are protected and retained because DNS points at
them and a new address means waiting out TTLs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource
from components.azure.roles import NETWORK_CONTRIBUTOR, definition_id

EDGE_ROLES = ("api", "web", "proxy")


@dataclass(frozen=True)
class EdgeIpsArgs:
    environment: str
    region: str
    zones: list[str]
    resource_group_name: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    cluster_principal_id: pulumi.Input[str]
    """The AKS control plane's identity, which attaches the IPs to its load balancer."""


class EdgeIps(pulumi.ComponentResource):
    names: dict[str, pulumi.Output[str]]
    """role → IP name, for the Service annotation azure-pip-name."""
    addresses: dict[str, pulumi.Output[str]]
    """role → address, for the DNS A records."""

    def __init__(self, name: str, args: EdgeIpsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:EdgeIps", name, None, opts)
        self.names, self.addresses = {}, {}
        role_definition = pulumi.Output.from_input(args.subscription_id).apply(
            lambda sub: definition_id(sub, NETWORK_CONTRIBUTOR)
        )
        for role in EDGE_ROLES:
            ip_name = naming.public_ip(args.environment, args.region, role)
            ip = ArmResource(
                f"{name}-{role}",
                "azure-native:network:PublicIPAddress",
                {
                    "publicIpAddressName": ip_name,
                    "resourceGroupName": args.resource_group_name,
                    "location": args.region,
                    "sku": {"name": "Standard", "tier": "Regional"},
                    "publicIPAllocationMethod": "Static",
                    "publicIPAddressVersion": "IPv4",
                    "zones": list(args.zones),
                    "idleTimeoutInMinutes": 4,
                    "tags": {"environment": args.environment, "region": args.region, "endpoint": role},
                },
                pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
                reads=["ipAddress"],
            )
            ArmResource(
                f"{name}-{role}-cluster",
                "azure-native:authorization:RoleAssignment",
                {
                    "roleAssignmentName": naming.role_assignment(ip_name, NETWORK_CONTRIBUTOR),
                    "principalId": args.cluster_principal_id,
                    "principalType": "ServicePrincipal",
                    "roleDefinitionId": role_definition,
                    "scope": ip.id,
                },
                pulumi.ResourceOptions(parent=ip),
            )
            self.names[role] = ip.output("name")
            self.addresses[role] = ip.output("ipAddress").apply(lambda a: a or "")
        self.register_outputs({"names": self.names, "addresses": self.addresses})
