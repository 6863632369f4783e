"""Role assignments, named from what they grant: scope, principal and role definition.

A role assignment cannot change its scope or principal, so its name (a GUID) must change whenever
either does; otherwise a recreated identity's new assignment collides with the old name
(RoleAssignmentUpdateNotPermitted). Bicep's `guid(scope, principalId, roleDefinitionId)` is the
documented pattern (https://learn.microsoft.com/azure/azure-resource-manager/bicep/scenarios-rbac).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pulumi

from components.azure import naming
from components.azure.arm import ArmResource


def role_assignment(
    name: str,
    *,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    principal_type: Literal["ServicePrincipal", "Group", "User"],
    role_definition_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> ArmResource:
    """One RoleAssignment; `ServicePrincipal` for identities avoids the replication race of a fresh one."""
    assignment_name = pulumi.Output.all(scope, principal_id, role_definition_id).apply(
        lambda parts: naming.role_assignment(*(str(p) for p in parts))
    )
    return ArmResource(
        name,
        "azure-native:authorization:RoleAssignment",
        {
            "roleAssignmentName": assignment_name,
            "principalId": principal_id,
            "principalType": principal_type,
            "roleDefinitionId": role_definition_id,
            "scope": scope,
        },
        opts,
    )


def custom_role(
    name: str,
    *,
    role_name: str,
    description: str,
    scope: pulumi.Input[str],
    permissions: Mapping[str, Sequence[str]],
    opts: pulumi.ResourceOptions,
) -> ArmResource:
    """A custom role assignable within `scope` (a resource group); its GUID derives from the role's unique name."""
    inputs: dict[str, Any] = {
        "roleDefinitionId": naming.role_definition(role_name),
        "roleName": role_name,
        "description": description,
        "scope": scope,
        "assignableScopes": [scope],
        "permissions": [{key: list(values) for key, values in permissions.items()}],
    }
    return ArmResource(name, "azure-native:authorization:RoleDefinition", inputs, opts)
