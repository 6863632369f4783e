"""Azure Resource Manager resources, registered with the azure-native provider by type token.

The azure-native provider deploys them, exactly as it deploys the SDK's typed classes: the
same type token, the same camelCase inputs (the names in the Pulumi registry and in a plan),
and the provider version pinned below. What is left out is the Python SDK, which costs more
than everything else a plan does:
- importing the seven packages used here takes ~1 s (`network` alone loads 290 modules);
- each typed class carries an alias for every retired API version (110 on ManagedCluster,
  60 on PublicIPAddress), and the SDK builds a URN Output for each of them on every
  registration (pulumi/pulumi#10010, pulumi/pulumi-azure-native#1493): ~0.6 s for one region.
A new project has no state under those API-versioned types, so the aliases have nothing to
match. tests/test_arm_schema.py checks every input we send against the SDK's generated
input types, so a misspelt property fails a test instead of a deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

PROVIDER_VERSION = "3.29.0"
"""The azure-native provider plugin; pinned like every other dependency (see pyproject.toml)."""


def _pinned(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=PROVIDER_VERSION), opts)


class ArmResource(pulumi.CustomResource):
    """One azure-native resource. Outputs the program reads are named up front in `reads`."""

    def __init__(
        self,
        resource_name: str,
        type_: str,
        inputs: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
        reads: Sequence[str] = (),
    ) -> None:
        if not type_.startswith("azure-native:"):
            raise ValueError(f"{type_} is not an azure-native type token")
        # Output-only properties must be declared (as None) for the SDK to resolve them.
        props = {"name": None, **dict.fromkeys(reads), **inputs}
        super().__init__(type_, resource_name, props, _pinned(opts))

    def output(self, key: str) -> pulumi.Output[Any]:
        """The provider's value of `key` (camelCase, as in the registry): `name`, or one of `reads`."""
        value = getattr(self, key, None)  # the SDK sets an Output attribute for every property it was given
        if not isinstance(value, pulumi.Output):
            raise KeyError(f"{key!r} is not an output of this resource; declare it in `reads`")
        return value


def invoke(token: str, args: Mapping[str, Any]) -> pulumi.Output[Any]:
    """An azure-native function (a data source), with the same provider version as the resources."""
    return pulumi.runtime.invoke_output(token, dict(args), pulumi.InvokeOutputOptions(version=PROVIDER_VERSION))


def client_config() -> pulumi.Output[Any]:
    """The deploying principal: `subscriptionId`, `tenantId`, `clientId`, `objectId`."""
    return invoke("azure-native:authorization:getClientConfig", {})
