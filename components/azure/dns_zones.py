"""DnsZones: the public zones an environment owns (m3o.dev; m3o.com and m3o.app), with CAA.

Zones outlive clusters: they hold the delegation that registrars point at, so they are
protected and retained on delete, locked against deletion in Azure, in a resource group of their
own. A region stack does not create them; it reads them from the owning stack through a StackReference.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource, client_config
from components.azure.tags import tags
from infra.config.model import Environment

CAA_ISSUER = "letsencrypt.org"
"""The only CA allowed to issue for these zones (RFC 8659)."""


@dataclass(frozen=True)
class DnsZonesArgs:
    environment: Environment
    location: str
    """Region of the zones' resource group (DNS itself is global)."""
    owner_stack: str | None = None
    """When set, the zones belong to that stack and are only referenced here."""


class DnsZones(pulumi.ComponentResource):
    resource_group_name: pulumi.Output[str]
    zone_resource_groups: pulumi.Output[dict[str, str]]
    """zone → resource group holding it; cert-manager's solvers need both."""
    zone_ids: dict[str, pulumi.Output[str]]
    """zone → Azure resource ID, the scope of cert-manager's DNS role."""
    zone_names: dict[str, pulumi.Output[str]]
    """zone → its name as an output of the zone, so a record set is created only once its zone exists."""
    name_servers: pulumi.Output[dict[str, list[str]]]
    """What to delegate to at the registrar."""

    def __init__(self, name: str, args: DnsZonesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:DnsZones", name, None, opts)
        env = args.environment
        if args.owner_stack:
            self._reference(name, args)
        else:
            self._own(name, args)
        self.zones = list(env.dns.zones)
        self.register_outputs(
            {
                "resource_group_name": self.resource_group_name,
                "zone_resource_groups": self.zone_resource_groups,
                "name_servers": self.name_servers,
            }
        )

    def _own(self, name: str, args: DnsZonesArgs) -> None:
        env = args.environment
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        group = ArmResource(
            f"{name}-dns",
            "azure-native:resources:ResourceGroup",
            {
                "resourceGroupName": naming.resource_group(env.name, args.location, "dns"),
                "location": args.location,
                "tags": tags(env.name, args.location, "dns"),
            },
            keep,
        )
        group_name = group.output("name")
        self.zone_ids, self.zone_names = {}, {}
        servers: dict[str, pulumi.Output[list[str]]] = {}
        for zone_name in env.dns.zones:
            zone = ArmResource(
                f"{name}-{zone_name}",
                "azure-native:dns:Zone",
                {
                    "zoneName": zone_name,
                    "resourceGroupName": group_name,
                    "location": "global",
                    "zoneType": "Public",
                    "tags": tags(env.name, args.location, f"dns-zone-{zone_name}"),
                },
                pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
                reads=["nameServers"],
            )
            ArmResource(
                f"{name}-{zone_name}-caa",
                "azure-native:dns:RecordSet",
                {
                    "zoneName": zone.output("name"),
                    "resourceGroupName": group_name,
                    "relativeRecordSetName": "@",
                    "recordType": "CAA",
                    "ttl": 3600,
                    "caaRecords": caa_records(env.acme.email if env.acme else None),
                },
                pulumi.ResourceOptions(parent=zone),
            )
            # ARM locks are inherited by child resources, so a CanNotDelete lock on the zone (or its resource group)
            # would also stop cert-manager deleting its _acme-challenge TXT records. A lock on the zone's SOA record
            # set blocks deleting the zone, and with it the group, while record sets stay editable
            # (MicrosoftDocs/azure-docs articles/dns/dns-protect-zones-recordsets.md, "Resource locks").
            ArmResource(
                f"{name}-{zone_name}-lock",
                "azure-native:authorization:ManagementLockByScope",
                {
                    "lockName": "zone-cannot-be-deleted",
                    "scope": zone.id.apply(lambda zone_id: f"{zone_id}/SOA/@"),
                    "level": "CanNotDelete",
                    "notes": "Registrars delegate to this zone's name servers; a new zone gets new ones.",
                },
                pulumi.ResourceOptions(parent=zone),
            )
            self.zone_ids[zone_name] = zone.id
            self.zone_names[zone_name] = zone.output("name")
            servers[zone_name] = zone.output("nameServers").apply(lambda ns: list(ns or []))
        self.resource_group_name = group_name
        self.zone_resource_groups = group_name.apply(lambda rg: {z: rg for z in env.dns.zones})
        self.name_servers = pulumi.Output.all(**servers).apply(dict)

    def _reference(self, name: str, args: DnsZonesArgs) -> None:
        owner = pulumi.StackReference(
            f"{name}-zones-owner",
            stack_name=_qualified(str(args.owner_stack)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        groups = owner.require_output("dnsZones")
        self.resource_group_name = owner.require_output("resourceGroup")
        self.zone_resource_groups = groups
        subscription = client_config()["subscriptionId"]
        self.zone_ids = {zone: _zone_id(subscription, groups, zone) for zone in args.environment.dns.zones}
        # The owner stack created the zones; its outputs are known once they exist.
        self.zone_names = {zone: _name_of(groups, zone) for zone in args.environment.dns.zones}
        self.name_servers = owner.require_output("nameServers")


def caa_records(email: str | None) -> list[dict]:
    """Only Let's Encrypt may issue, wildcards included; violations are reported to `email`."""
    records = [
        {"flags": 0, "tag": "issue", "value": CAA_ISSUER},
        {"flags": 0, "tag": "issuewild", "value": CAA_ISSUER},
    ]
    if email:
        records.append({"flags": 0, "tag": "iodef", "value": f"mailto:{email}"})
    return records


def _qualified(stack: str) -> str:
    """`organization/project/stack` for the self-managed backends (`organization` is the file backend's)."""
    return stack if "/" in stack else f"organization/micro-infra/{stack}"


def _zone_id(subscription: pulumi.Output[str], groups: pulumi.Output[dict], zone: str) -> pulumi.Output[str]:
    return pulumi.Output.all(subscription, groups).apply(
        lambda sg: f"/subscriptions/{sg[0]}/resourceGroups/{sg[1][zone]}/providers/Microsoft.Network/dnszones/{zone}"
    )


def _name_of(groups: pulumi.Output[dict], zone: str) -> pulumi.Output[str]:
    return groups.apply(lambda _: zone)
