"""Every azure-native input the program sends is a property of the provider's schema, at every depth.

components/azure/arm.py registers resources by type token, without the SDK's typed classes. The
SDK (a dev dependency, pinned to the same provider version) is generated from the provider's
schema, so its input types say which names the provider accepts: `publicIPAllocationMethod`, not
`publicIpAllocationMethod`; `tenantID`, not `tenantId`. A misspelt key fails here, not in Azure.
"""

from __future__ import annotations

import collections.abc
import importlib
import sys
import typing
from importlib.metadata import version
from typing import Any

import pulumi
import pytest
from pulumi import _types

from components.azure.arm import PROVIDER_VERSION

from .conftest import stack_graph

AZURE_STACKS = ["staging", "platform"]


def _input_class(hint: Any) -> type | None:
    """The generated `...Args` class inside a hint such as Input[Sequence[Input[Union[XArgs, XArgsDict]]]]."""
    if isinstance(hint, type) and _types.is_input_type(hint):
        return hint
    if typing.get_origin(hint) in (dict, collections.abc.Mapping):
        return None  # free-form maps (tags, addon profiles keyed by add-on) have no fixed keys
    for arg in typing.get_args(hint):
        found = _input_class(arg)
        if found is not None:
            return found
    return None


def _unknown_keys(value: Any, args_class: type, path: str) -> list[str]:
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unknown_keys(v, args_class, f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    types = _types.input_type_types(args_class)
    problems = []
    for key, sub in value.items():
        if key not in types:
            problems.append(f"{path}.{key} (not in {args_class.__name__}: {sorted(types)})")
            continue
        nested = _input_class(types[key])
        if nested is not None:
            problems.extend(_unknown_keys(sub, nested, f"{path}.{key}"))
    return problems


def _args_class(type_token: str) -> type:
    """The resource's own Args; the SDK names it `<Resource>InitArgs` where a nested type took `<Resource>Args`."""
    _, module, resource = type_token.split(":")
    resource_class = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), resource)
    assert issubclass(resource_class, pulumi.CustomResource), type_token
    module_of_resource = sys.modules[resource_class.__module__]
    return getattr(module_of_resource, f"{resource}InitArgs", None) or getattr(module_of_resource, f"{resource}Args")


def test_the_pinned_provider_is_the_one_the_schema_check_uses() -> None:
    assert version("pulumi-azure-native") == PROVIDER_VERSION


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_every_azure_input_is_in_the_provider_schema(stack: str) -> None:
    graph = stack_graph(stack)
    azure = [r for r in graph.registrations if r.type.startswith("azure-native:")]
    assert len({r.type for r in azure}) >= 12, "every Azure resource type the region uses is checked"
    problems = [p for r in azure for p in _unknown_keys(r.inputs, _args_class(r.type), r.name)]
    assert problems == []


def test_the_check_catches_a_misspelt_nested_key() -> None:
    cluster = _args_class("azure-native:containerservice:ManagedCluster")
    good = {"aadProfile": {"tenantID": "t"}, "agentPoolProfiles": [{"osSKU": "AzureLinux"}], "tags": {"any": "x"}}
    assert _unknown_keys(good, cluster, "c") == []
    bad = {"aadProfile": {"tenantId": "t"}, "agentPoolProfiles": [{"osSku": "AzureLinux"}]}
    assert [p.split(" ")[0] for p in _unknown_keys(bad, cluster, "c")] == [
        "c.aadProfile.tenantId",
        "c.agentPoolProfiles[0].osSku",
    ]


@pytest.mark.parametrize("stack", ["local", *AZURE_STACKS])
def test_every_resource_asks_for_the_pinned_provider_plugin(stack: str) -> None:
    """Without a version the engine would use whichever plugin happens to be installed."""
    kubernetes = version("pulumi-kubernetes")
    for r in stack_graph(stack).registrations:
        if r.type.startswith("azure-native:"):
            assert r.version == PROVIDER_VERSION, r.urn
        elif r.type.startswith("kubernetes:") or r.type == "pulumi:providers:kubernetes":
            assert r.version == kubernetes, r.urn


def test_arm_resource_reads_only_declared_outputs_and_only_azure_types() -> None:
    from components.azure.arm import ArmResource

    from .conftest import component_graph

    seen: dict[str, object] = {}

    def build() -> None:
        ip = ArmResource("ip", "azure-native:network:PublicIPAddress", {"location": "uksouth"}, reads=["ipAddress"])
        seen["declared"] = ip.output("ipAddress")
        with pytest.raises(KeyError, match="declare it in `reads`"):
            ip.output("resourceGuid")
        with pytest.raises(ValueError, match="not an azure-native type token"):
            ArmResource("ns", "kubernetes:core/v1:Namespace", {})

    graph = component_graph(build)
    assert isinstance(seen["declared"], pulumi.Output)
    (ip,) = graph.of_type("azure-native:network:PublicIPAddress")
    assert ip.inputs == {"location": "uksouth"}, "declared outputs are not sent as inputs"
    assert ip.version == PROVIDER_VERSION


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_every_taggable_azure_resource_carries_the_one_tag_set(stack: str) -> None:
    """Cost reports and tag policies group an environment only if nothing is left out (tags.tags)."""
    taggable = [
        r
        for r in stack_graph(stack).registrations
        if r.type.startswith("azure-native:") and "tags" in _types.input_type_types(_args_class(r.type))
    ]
    assert len(taggable) >= 8
    for r in taggable:
        tags = r.inputs.get("tags")
        assert isinstance(tags, dict), f"{r.urn} has no tags"
        assert set(tags) == {"project", "environment", "region", "role", "managed-by"}, r.urn
        assert tags["environment"] == stack and tags["project"] == "micro-infra", r.urn
