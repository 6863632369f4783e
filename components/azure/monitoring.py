"""Monitoring: where a cluster's audit logs and metrics go, and the policy that audits its pods.

Each piece is an environment switch (`cluster.monitoring`), on for platform, because each is billed.
The workspaces exist before the cluster (Defender and the metrics add-on name them); what attaches
to the cluster (diagnostic settings, the Prometheus data collection rule, the policy assignment) is
created by `attach` once the cluster exists. Shapes follow mspnp/aks-baseline
workload-team/cluster-stamp.bicep (diagnostic settings, azureMonitorProfile) and Microsoft's managed
Prometheus template (https://learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-enable,
"ARM": data collection endpoint, rule and association).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource
from components.azure.tags import tags
from infra.config.model import Monitoring as MonitoringSpec

AUDIT_LOGS = ("kube-audit-admin", "guard")
"""Control-plane logs kept: API writes (kube-audit-admin leaves out reads, which are most of the volume and
cost) and Entra ID authentication (guard), as in the baseline."""
RETENTION_DAYS = 30
"""Log Analytics' included retention."""
POD_SECURITY_RESTRICTED = "/providers/Microsoft.Authorization/policySetDefinitions/42b8ef37-b724-4e24-bbc8-7a7708edfe00"
"""Built-in initiative 'Kubernetes cluster pod security restricted standards for Linux-based workloads'
(Azure/azure-policy built-in-policies/policySetDefinitions/Kubernetes; mspnp/aks-baseline assigns it)."""
PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"


@dataclass(frozen=True)
class MonitoringArgs:
    environment: str
    region: str
    resource_group_name: pulumi.Input[str]
    spec: MonitoringSpec


class Monitoring(pulumi.ComponentResource):
    log_analytics_id: pulumi.Output[str] | None
    """The Log Analytics workspace, or None when the switch is off."""
    prometheus_id: pulumi.Output[str] | None
    """The Azure Monitor workspace that stores Prometheus metrics, or None."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:azure:Monitoring", name, None, opts)
        self._name, self._args = name, args
        env, region, spec = args.environment, args.region, args.spec
        child = pulumi.ResourceOptions(parent=self)
        self.log_analytics_id = self.prometheus_id = None
        if spec.log_analytics:
            workspace = ArmResource(
                f"{name}-logs",
                "azure-native:operationalinsights:Workspace",
                {
                    "workspaceName": f"log-{naming.stem(env, region)}",
                    "resourceGroupName": args.resource_group_name,
                    "location": region,
                    "sku": {"name": "PerGB2018"},
                    "retentionInDays": RETENTION_DAYS,
                    "tags": tags(env, region, "logs"),
                },
                child,
            )
            self.log_analytics_id = workspace.id
        if spec.managed_prometheus:
            metrics = ArmResource(
                f"{name}-metrics",
                "azure-native:monitor:AzureMonitorWorkspace",
                {
                    "azureMonitorWorkspaceName": f"amw-{naming.stem(env, region)}",
                    "resourceGroupName": args.resource_group_name,
                    "location": region,
                    "tags": tags(env, region, "metrics"),
                },
                child,
            )
            self.prometheus_id = metrics.id
        self.register_outputs({"log_analytics_id": self.log_analytics_id, "prometheus_id": self.prometheus_id})

    def cluster_profiles(self) -> dict[str, Any]:
        """ManagedCluster inputs that depend on the switches: Defender's sensor and the metrics add-on."""
        profiles: dict[str, Any] = {
            # Container insights (omsagent) stays off: Prometheus metrics and audit logs cover what the
            # operators query; container stdout goes to Log Analytics only if this changes.
            "omsagent": {"enabled": False},
            "azureMonitorProfile": {"metrics": {"enabled": self.prometheus_id is not None}},
        }
        if self._args.spec.defender and self.log_analytics_id is not None:
            profiles["defender"] = {
                "logAnalyticsWorkspaceResourceId": self.log_analytics_id,
                "securityMonitoring": {"enabled": True},
            }
        return profiles

    def attach(self, cluster: ArmResource) -> None:
        """What hangs off the cluster itself, parented to it so it goes when the cluster goes."""
        env, region, spec = self._args.environment, self._args.region, self._args.spec
        on_cluster = pulumi.ResourceOptions(parent=cluster)
        if self.log_analytics_id is not None:
            ArmResource(
                f"{self._name}-audit",
                "azure-native:monitor:DiagnosticSetting",
                {
                    "name": "audit-to-log-analytics",
                    "resourceUri": cluster.id,
                    "workspaceId": self.log_analytics_id,
                    "logAnalyticsDestinationType": "Dedicated",
                    "logs": [{"category": category, "enabled": True} for category in AUDIT_LOGS],
                },
                on_cluster,
            )
        if self.prometheus_id is not None:
            stem = f"MSProm-{region}-{naming.cluster(env, region)}"
            endpoint = ArmResource(
                f"{self._name}-prometheus-endpoint",
                "azure-native:monitor:DataCollectionEndpoint",
                {
                    "dataCollectionEndpointName": stem[:44],
                    "resourceGroupName": self._args.resource_group_name,
                    "location": region,
                    "kind": "Linux",
                    "tags": tags(env, region, "metrics"),
                },
                on_cluster,
            )
            rule = ArmResource(
                f"{self._name}-prometheus-rule",
                "azure-native:monitor:DataCollectionRule",
                {
                    "dataCollectionRuleName": stem[:64],
                    "resourceGroupName": self._args.resource_group_name,
                    "location": region,
                    "kind": "Linux",
                    "dataCollectionEndpointId": endpoint.id,
                    "dataSources": {
                        "prometheusForwarder": [
                            {"name": "PrometheusDataSource", "streams": [PROMETHEUS_STREAM], "labelIncludeFilter": {}}
                        ]
                    },
                    "destinations": {
                        "monitoringAccounts": [{"accountResourceId": self.prometheus_id, "name": "MonitoringAccount1"}]
                    },
                    "dataFlows": [{"destinations": ["MonitoringAccount1"], "streams": [PROMETHEUS_STREAM]}],
                    "tags": tags(env, region, "metrics"),
                },
                on_cluster,
            )
            ArmResource(
                f"{self._name}-prometheus-association",
                "azure-native:monitor:DataCollectionRuleAssociation",
                {
                    "associationName": stem[:64],
                    "resourceUri": cluster.id,
                    "dataCollectionRuleId": rule.id,
                },
                on_cluster,
            )
        if spec.pod_security_audit:
            ArmResource(
                f"{self._name}-pod-security",
                "azure-native:authorization:PolicyAssignment",
                {
                    "policyAssignmentName": f"pod-security-restricted-{env}-{region}"[:64],
                    "scope": cluster.id,
                    "displayName": "Pod security restricted standards (audit)",
                    "policyDefinitionId": POD_SECURITY_RESTRICTED,
                    # Audit first: the add-on reports violations; deny waits until the report is clean.
                    "parameters": {"effect": {"value": "audit"}},
                },
                on_cluster,
            )
