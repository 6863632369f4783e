"""Kubernetes built-in objects as Pulumi resources: one small class per kind (cdk8s's KubeXxx, for Pulumi).

The kubernetes provider receives what pulumi_kubernetes' typed classes would send: the type
token `kubernetes:<group>/<version>:<Kind>`, apiVersion, kind, metadata and the kind's
fields, with the SDK's provider version. Fields are written as Kubernetes writes them
(camelCase, as in a manifest). The typed classes are not used because importing the six API
groups below costs 0.27 s, a quarter of a platform plan (core/v1 alone defines 600 input types), and
because their Python types check nothing at run time anyway: every object here is validated
against the Kubernetes JSON schemas of the target version instead (tests, strict).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, ClassVar

import pulumi

PROVIDER_VERSION = version("pulumi-kubernetes")
"""The kubernetes provider the pinned SDK asks for; the same plugin as the Provider resource."""


class KubernetesObject(pulumi.CustomResource):
    """A built-in Kubernetes object; subclasses name the API version and kind."""

    api_version: ClassVar[str]
    kind: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]] = ()
    """Fields that are secret as a whole, in the inputs and in what the provider returns."""
    metadata: pulumi.Output[Any]

    def __init__(
        self,
        resource_name: str,
        metadata: pulumi.Input[dict[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
        **fields: Any,
    ) -> None:
        for key in self.secret_fields:
            if key in fields:
                fields[key] = pulumi.Output.secret(fields[key])
        group = self.api_version if "/" in self.api_version else f"core/{self.api_version}"
        props = {"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata, **fields}
        pinned = pulumi.ResourceOptions(version=PROVIDER_VERSION, additional_secret_outputs=list(self.secret_fields))
        opts = pulumi.ResourceOptions.merge(pinned, opts)
        super().__init__(f"kubernetes:{group}:{self.kind}", resource_name, props, opts)

    @property
    def object_name(self) -> pulumi.Output[str]:
        """metadata.name as the cluster has it (a dependency on this object)."""
        return self.metadata.apply(lambda m: m["name"])


class Namespace(KubernetesObject):
    api_version, kind = "v1", "Namespace"


class Secret(KubernetesObject):
    api_version, kind = "v1", "Secret"
    secret_fields = ("data", "stringData")


class Service(KubernetesObject):
    api_version, kind = "v1", "Service"


class PersistentVolumeClaim(KubernetesObject):
    api_version, kind = "v1", "PersistentVolumeClaim"


class ServiceAccount(KubernetesObject):
    api_version, kind = "v1", "ServiceAccount"


class Deployment(KubernetesObject):
    api_version, kind = "apps/v1", "Deployment"


class StatefulSet(KubernetesObject):
    api_version, kind = "apps/v1", "StatefulSet"


class Job(KubernetesObject):
    api_version, kind = "batch/v1", "Job"


class NetworkPolicy(KubernetesObject):
    api_version, kind = "networking.k8s.io/v1", "NetworkPolicy"


class PodDisruptionBudget(KubernetesObject):
    api_version, kind = "policy/v1", "PodDisruptionBudget"


class ClusterRole(KubernetesObject):
    api_version, kind = "rbac.authorization.k8s.io/v1", "ClusterRole"


class ClusterRoleBinding(KubernetesObject):
    api_version, kind = "rbac.authorization.k8s.io/v1", "ClusterRoleBinding"
