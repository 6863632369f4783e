"""The Pulumi program: environment YAML → typed model → components.

`program_for` returns the program of one stack; `infra/__main__.py` runs it under the real
engine and `infra plan` runs it under mocks. No resource is created at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.azure.azure_region import AzureRegion, AzureRegionArgs
from components.azure.dns_zones import DnsZones, DnsZonesArgs
from components.generated_secrets import GeneratedSecrets, GeneratedSecretsArgs
from components.kubernetes.platform import Platform, PlatformArgs
from infra.config.loader import Stack
from infra.config.model import Cloud, Environment, Region


def program_for(stack: Stack) -> Callable[[], None]:
    """The program of `stack`, ready for the real engine or the mock runtime."""

    def program() -> None:
        env = stack.environment
        regions = stack.regions
        config = pulumi.Config()
        secrets = _Secrets(config.get_secret("backupPassphrase"))
        if env.cloud is Cloud.kind:
            _local(env, regions[0], stack, secrets)
        else:
            _azure(env, regions, stack, secrets)

    return program


@dataclass(frozen=True)
class _Secrets:
    """Secure stack values; None when the stack does not set them."""

    backup_passphrase: pulumi.Output[str] | None


def _local(env: Environment, region: Region, stack: Stack, secrets: _Secrets) -> None:
    settings = stack.settings
    provider = k8s.Provider(
        "kind",
        context=settings.kube_context,
        render_yaml_to_directory=settings.render_yaml_to_directory,
        # Server-side apply lets cert-manager and Helm co-own fields without fights.
        enable_server_side_apply=True,
    )
    platform = Platform(
        env.name,
        PlatformArgs(
            env,
            region,
            cloud=None,
            helm_releases=settings.helm_releases,
            backup_passphrase=secrets.backup_passphrase,
        ),
        pulumi.ResourceOptions(provider=provider),
    )
    pulumi.export("environment", env.name)
    pulumi.export("hosts", platform.hosts)
    pulumi.export("issuer", platform.issuer)
    pulumi.export("release", env.release.model_dump(mode="json"))


def _azure(env: Environment, regions: list[Region], stack: Stack, secrets: _Secrets) -> None:
    settings = stack.settings
    # Cloud stacks back CockroachDB up; without a `secure:` passphrase the engine makes one.
    generated = GeneratedSecrets(env.name, GeneratedSecretsArgs(backup_passphrase=secrets.backup_passphrase))
    zones = DnsZones(
        env.name,
        DnsZonesArgs(environment=env, location=regions[0].name, owner_stack=settings.zones_stack),
    )
    for index, region in enumerate(regions):
        name = f"{env.name}-{region.name}"
        azure = AzureRegion(
            name,
            AzureRegionArgs(
                environment=env,
                region=region,
                zones=zones,
                primary=index == 0 and settings.zones_stack is None,
                render_yaml_to_directory=settings.render_yaml_to_directory,
            ),
        )
        Platform(
            name,
            PlatformArgs(
                env,
                region,
                cloud=azure.bindings,
                helm_releases=settings.helm_releases,
                backup_passphrase=generated.backup_passphrase,
            ),
            pulumi.ResourceOptions(provider=azure.kubernetes_provider),
        )
        pulumi.export(f"{region.name}.publicIps", azure.public_ips)
        pulumi.export(f"{region.name}.cluster", azure.cluster_name)
    pulumi.export("environment", env.name)
    pulumi.export("resourceGroup", zones.resource_group_name)
    pulumi.export("dnsZones", zones.zone_resource_groups)
    pulumi.export("nameServers", zones.name_servers)
    pulumi.export("hosts", env.dns.hosts.model_dump())
    pulumi.export("release", env.release.model_dump(mode="json"))
