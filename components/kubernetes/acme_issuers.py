"""Let's Encrypt ClusterIssuers that prove control of Azure DNS zones (ACME DNS-01).

Deploys two ClusterIssuers, `letsencrypt-staging` and `letsencrypt-prod`, each with one DNS-01 solver per zone
the environment owns. Both always exist, so switching an environment between them (`acme.server`) re-issues
certificates without creating or deleting issuers; each keeps its own ACME account key Secret.

Expects: cert-manager running with workload identity (CertManager with a client id), and that identity holding
DNS Zone Contributor on every zone in `cloud.dns_zones`. Leaves out: HTTP-01 (the wildcard hosts need DNS-01),
External Account Binding, and ACME profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.kubernetes.contracts import CloudBindings
from infra.config.model import AcmeServer

API_VERSION = "cert-manager.io/v1"
DIRECTORIES = {
    AcmeServer.staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
    AcmeServer.production: "https://acme-v02.api.letsencrypt.org/directory",
}
"""Let's Encrypt's ACME v2 directories. Staging has generous rate limits and an untrusted chain."""
AZURE_ENVIRONMENT = "AzurePublicCloud"


@dataclass(frozen=True)
class AcmeIssuersArgs:
    email: str
    """ACME account contact; Let's Encrypt sends expiry and policy notices here."""
    cloud: CloudBindings
    """Subscription, zones (zone → resource group) and the client id of cert-manager's Azure identity."""
    crds: Sequence[pulumi.Resource]
    """cert-manager's CRDs (CertManager.crds); both issuers depend on them."""


class AcmeIssuers(pulumi.ComponentResource):
    """letsencrypt-staging and letsencrypt-prod, solving DNS-01 in Azure DNS with workload identity."""

    issuer_names: dict[AcmeServer, pulumi.Output[str]]
    """ClusterIssuer name per ACME server, read from the resources so consumers get a data edge."""

    def __init__(self, name: str, args: AcmeIssuersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:AcmeIssuers", name, None, opts)
        # depends_on, not data: the CRDs come from the cert-manager chart, and nothing here reads them.
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=list(args.crds))

        self.issuer_names = {}
        for server in AcmeServer:
            issuer = CustomResource(
                f"{name}-{server.value}",
                api_version=API_VERSION,
                kind="ClusterIssuer",
                metadata={"name": server.issuer, "labels": _labels()},
                spec=issuer_spec(server, args.email, args.cloud),
                opts=after_crds,
            )
            self.issuer_names[server] = _field(issuer, "metadata", "name")
        self.register_outputs({"issuer_names": {s.value: n for s, n in self.issuer_names.items()}})


def issuer_spec(server: AcmeServer, email: str, cloud: CloudBindings) -> dict[str, Any]:
    """An ACME issuer with one DNS-01 solver per zone, selected by zone so each writes to its own zone."""
    return {
        "acme": {
            "server": DIRECTORIES[server],
            "email": email,
            "privateKeySecretRef": {"name": f"{server.issuer}-account"},
            "solvers": [dns01_solver(zone, group, cloud) for zone, group in sorted(cloud.dns_zones.items())],
        }
    }


def dns01_solver(zone: str, resource_group: pulumi.Input[str], cloud: CloudBindings) -> dict[str, Any]:
    """The solver for names under `zone`, authenticated as cert-manager's federated identity."""
    return {
        "selector": {"dnsZones": [zone]},
        "dns01": {
            "azureDNS": {
                "subscriptionID": cloud.subscription_id,
                "resourceGroupName": resource_group,
                "hostedZoneName": zone,
                "environment": AZURE_ENVIRONMENT,
                # The client id pins the identity explicitly rather than trusting whatever AZURE_CLIENT_ID the
                # workload identity webhook injects into the controller pod.
                "managedIdentity": {"clientID": cloud.cert_manager_client_id},
            }
        },
    }


def _field(resource: CustomResource, section: str, key: str) -> pulumi.Output[str]:
    """`section.key` of a custom resource's outputs, e.g. metadata.name: a value that depends on the resource."""
    return pulumi.Output.from_input(getattr(resource, section)).apply(lambda v: str(v[key]))


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "acme-issuers",
        "app.kubernetes.io/part-of": "micro",
        "app.kubernetes.io/managed-by": "pulumi",
    }
