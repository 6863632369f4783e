"""DnsRecords: a region's A records in the environment's zones.

The primary region answers the public hosts (api, web, proxy, and the apps wildcard on the
api address). Every region also answers region-scoped hosts such as api.uksouth.m3o.com, so
operators and health checks can reach one region directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.azure.arm import ArmResource
from infra.config.model import Dns

TTL = 300
"""Five minutes: short enough to move an endpoint during an incident."""


@dataclass(frozen=True)
class DnsRecordsArgs:
    dns: Dns
    region: str
    primary: bool
    """Whether this region answers the environment's public hosts."""
    zone_resource_groups: pulumi.Input[dict[str, str]]
    zone_names: dict[str, pulumi.Output[str]]
    """zone → the zone resource's name output: orders each record after its zone (a literal name would not)."""
    addresses: dict[str, pulumi.Output[str]]
    """api/web/proxy → public IP address."""


class DnsRecords(pulumi.ComponentResource):
    fqdns: list[str]
    """Every name this component publishes."""

    def __init__(self, name: str, args: DnsRecordsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:DnsRecords", name, None, opts)
        self.fqdns = []
        groups = pulumi.Output.from_input(args.zone_resource_groups)
        for fqdn, (zone, relative, role) in records(args.dns, args.region, args.primary).items():
            ArmResource(
                f"{name}-{relative.replace('*', 'wildcard')}-{zone}",
                "azure-native:dns:RecordSet",
                {
                    "zoneName": args.zone_names[zone],
                    "resourceGroupName": _group_of(groups, zone),
                    "relativeRecordSetName": relative,
                    "recordType": "A",
                    "ttl": TTL,
                    "aRecords": [{"ipv4Address": args.addresses[role]}],
                },
                pulumi.ResourceOptions(parent=self),
            )
            self.fqdns.append(fqdn)
        self.register_outputs({"fqdns": self.fqdns})


def records(zones: Dns, region: str, primary: bool) -> dict[str, tuple[str, str, str]]:
    """fqdn → (zone, relative name, edge role) for a region."""
    out: dict[str, tuple[str, str, str]] = {}
    hosts = zones.hosts
    for role, host in (("api", hosts.api), ("web", hosts.web), ("proxy", hosts.proxy), ("api", hosts.apps)):
        zone = zones.zone_of(host)
        relative = host[: -len(zone) - 1] if host != zone else "@"
        if primary:
            out[host] = (zone, relative, role)
        if not host.startswith("*."):
            regional = f"{relative}.{region}" if relative != "@" else region
            out[f"{regional}.{zone}"] = (zone, regional, role)
    return out


def _group_of(groups: pulumi.Output[dict[str, str]], zone: str) -> pulumi.Output[str]:
    return groups.apply(lambda g: g[zone])
