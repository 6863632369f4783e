"""cert-manager: the controller behind every certificate in the cluster.

Deploys the `cert-manager` namespace and the upstream jetstack chart (controller, webhook, cainjector, two of
each) with its CRDs. In cloud stacks the controller's ServiceAccount is federated with an Azure identity, so
DNS-01 challenges are solved with workload identity and no client secret exists anywhere.

Expects: a Kubernetes provider in `opts`; in cloud, an AKS cluster with the OIDC issuer and workload identity
on, and a federated credential whose subject is `CERT_MANAGER_SA.subject`. Leaves out: issuers (see
internal_ca.py and acme_issuers.py), Prometheus ServiceMonitors, and the Gateway API shim (the edge declares
its Certificates explicitly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.helm.v3 import Release

from components.kubernetes.contracts import CERT_MANAGER_SA
from components.kubernetes.objects import Namespace

CHART_REPOSITORY = "https://charts.jetstack.io"
CHART = "cert-manager"
NAMESPACE = CERT_MANAGER_SA.namespace
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
DNS01_NAMESERVERS = "1.1.1.1:53,8.8.8.8:53"
"""Public resolvers for DNS-01 self-checks (see chart_values)."""
RUN_AS_USER = 1000
"""cert-manager's images run as uid 1000."""


@dataclass(frozen=True)
class CertManagerArgs:
    version: str
    """Chart version, pinned by the environment's `release.charts.cert_manager`."""
    workload_identity_client_id: pulumi.Input[str] | None
    """Client ID of the Azure identity federated with cert-manager's ServiceAccount; None (local) leaves the
    controller without Azure access, which is fine because the local stack only uses the internal CA."""
    enabled: bool = True
    """False declares the namespace only, with no chart (offline renders); `crds` is then empty."""


class CertManager(pulumi.ComponentResource):
    """cert-manager from its upstream chart, HA, with the CRDs the issuers and certificates need."""

    crds: list[pulumi.Resource]
    """What cert-manager custom resources must depend on: the release that installs the CRDs (empty when
    disabled)."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:CertManager", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        namespace = Namespace(
            f"{name}-namespace",
            metadata={
                "name": NAMESPACE,
                # Every pod below meets the restricted profile (chart_values sets the security contexts).
                "labels": {**_labels(), "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=child,
        )
        self.crds = []
        if args.enabled:
            # helm.v3.Release, not helm.v4.Chart: the chart's startupapicheck Job is a post-install hook and
            # v4.Chart skips hooks (pulumi-kubernetes#3284); a Release runs them, so `up` returns only once
            # the webhook answers and the first ClusterIssuer can be admitted.
            release = Release(
                f"{name}-chart",
                name=CHART,  # a fixed release name keeps resource names and pod labels stable
                chart=CHART,
                version=args.version,
                repository_opts={"repo": CHART_REPOSITORY},
                namespace=namespace.object_name,
                create_namespace=False,  # declared above, with labels
                values=chart_values(args.workload_identity_client_id),
                cleanup_on_fail=True,
                timeout=600,  # three Deployments of two pods, then the startupapicheck hook
                opts=child,
            )
            self.crds = [release]
        self.register_outputs({"crds": [r.urn for r in self.crds]})


def chart_values(client_id: pulumi.Input[str] | None) -> dict[str, Any]:
    """Helm values: HA everywhere, restricted security contexts, workload identity when a client id is given."""
    service_account: dict[str, Any] = {
        "create": True,
        # The Azure federated credential's subject is built from CERT_MANAGER_SA: the name must match it.
        "name": CERT_MANAGER_SA.name,
    }
    values: dict[str, Any] = {
        "crds": {
            "enabled": True,
            # Uninstalling the chart must not delete the CRDs, and with them every Certificate and Secret.
            "keep": True,
        },
        # Leases in our namespace rather than kube-system, which AKS manages.
        "global": {"leaderElection": {"namespace": NAMESPACE}},
        "replicaCount": 2,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "topologySpreadConstraints": _zone_spread("cert-manager", "controller"),
        "resources": _resources("50m", "128Mi", "500m", "512Mi"),
        "securityContext": _POD_SECURITY,
        "containerSecurityContext": _CONTAINER_SECURITY,
        "serviceAccount": service_account,
        # DNS-01 self-checks query public resolvers only: a split-horizon or caching resolver inside the
        # cluster or VNet can hide the freshly written TXT record and stall issuance until its TTL expires.
        "dns01RecursiveNameservers": DNS01_NAMESERVERS,
        "dns01RecursiveNameserversOnly": True,
        # Deleting a Certificate keeps its Secret: a mistaken delete must not take the internal CA key with it.
        "enableCertificateOwnerRef": False,
        "webhook": _component("webhook", _resources("20m", "64Mi", "200m", "256Mi")),
        # cainjector caches every Secret and CRD it watches; it needs the most memory of the three.
        "cainjector": _component("cainjector", _resources("20m", "128Mi", "200m", "512Mi")),
        "startupapicheck": {
            "securityContext": _POD_SECURITY,
            "containerSecurityContext": _CONTAINER_SECURITY,
            "resources": _resources("10m", "32Mi", "100m", "128Mi"),
        },
    }
    if client_id is not None:
        # Only the controller talks to Azure DNS; the webhook and cainjector stay without a token.
        values["podLabels"] = {WORKLOAD_IDENTITY_LABEL: "true"}
        service_account["labels"] = {WORKLOAD_IDENTITY_LABEL: "true"}
        service_account["annotations"] = {CLIENT_ID_ANNOTATION: client_id}
    return values


_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _component(component: str, resources: dict[str, Any]) -> dict[str, Any]:
    """Values shared by the webhook and cainjector sub-sections."""
    return {
        "replicaCount": 2,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "topologySpreadConstraints": _zone_spread(component, component),
        "resources": resources,
        "securityContext": _POD_SECURITY,
        "containerSecurityContext": _CONTAINER_SECURITY,
    }


def _zone_spread(app: str, component: str) -> list[dict[str, Any]]:
    """One replica per zone where possible; ScheduleAnyway so kind's unlabelled single node still schedules."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": app,
                    "app.kubernetes.io/instance": CHART,
                    "app.kubernetes.io/component": component,
                }
            },
        }
    ]


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "cert-manager",
        "app.kubernetes.io/part-of": "micro",
        "app.kubernetes.io/managed-by": "pulumi",
    }
