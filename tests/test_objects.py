"""components/kubernetes/objects.py registers what pulumi-kubernetes' typed classes would: token, fields, version."""

from __future__ import annotations

from importlib.metadata import version

import pulumi
import pytest

from components.kubernetes import objects

from .conftest import component_graph

KINDS = [
    (objects.Namespace, "kubernetes:core/v1:Namespace"),
    (objects.Secret, "kubernetes:core/v1:Secret"),
    (objects.Service, "kubernetes:core/v1:Service"),
    (objects.ServiceAccount, "kubernetes:core/v1:ServiceAccount"),
    (objects.PersistentVolumeClaim, "kubernetes:core/v1:PersistentVolumeClaim"),
    (objects.Deployment, "kubernetes:apps/v1:Deployment"),
    (objects.StatefulSet, "kubernetes:apps/v1:StatefulSet"),
    (objects.Job, "kubernetes:batch/v1:Job"),
    (objects.NetworkPolicy, "kubernetes:networking.k8s.io/v1:NetworkPolicy"),
    (objects.PodDisruptionBudget, "kubernetes:policy/v1:PodDisruptionBudget"),
    (objects.ClusterRole, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"),
    (objects.ClusterRoleBinding, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"),
]


@pytest.mark.parametrize(("kind", "token"), KINDS, ids=[token.split(":")[-1] for _, token in KINDS])
def test_each_kind_registers_the_typed_class_token_and_manifest_fields(
    kind: type[objects.KubernetesObject], token: str
) -> None:
    names: list[pulumi.Output[str]] = []

    def build() -> None:
        made = kind("thing", metadata={"name": "thing", "labels": {"a": "b"}}, spec={"replicas": 1})
        names.append(made.object_name)

    (registered,) = component_graph(build).of_type(token)
    assert registered.inputs["apiVersion"] == kind.api_version and registered.inputs["kind"] == kind.kind
    assert registered.inputs["metadata"] == {"name": "thing", "labels": {"a": "b"}}
    assert registered.inputs["spec"] == {"replicas": 1}, "fields go to the provider as written (camelCase)"
    assert registered.version == version("pulumi-kubernetes") == objects.PROVIDER_VERSION
    assert isinstance(names[0], pulumi.Output)


def test_a_secret_s_contents_are_secret_as_a_whole() -> None:
    def build() -> None:
        objects.Secret("s", metadata={"name": "s"}, type="Opaque", stringData={"key": "plain"}, data={"b": "cGxhaW4="})
        objects.ServiceAccount("a", metadata={"name": "a"}, automountServiceAccountToken=False)

    graph = component_graph(build)
    (secret,) = graph.of_type("kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == "[secret]" and secret.inputs["data"] == "[secret]"
    assert secret.inputs["type"] == "Opaque" and secret.raw_inputs()["stringData"] == {"key": "plain"}
    (account,) = graph.of_type("kubernetes:core/v1:ServiceAccount")
    assert account.inputs["automountServiceAccountToken"] is False, "only Secret fields are made secret"
