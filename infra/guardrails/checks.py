"""`infra check`: the CrossGuard pack's rules (policy/policies.py), run over the offline plan.

policy/policies.py imports nothing from Pulumi, so it is loaded here by path: the same functions
judge `pulumi preview --policy-pack policy` and this offline check, and neither can drift.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.plan.engine import Graph, Registration


POLICY_FILE = Path(__file__).resolve().parents[2] / "policy" / "policies.py"
MODULE = "micro_infra_policies"
"""The name policies.py is registered under (its dataclasses need a module in sys.modules)."""


@cache
def policies() -> ModuleType:
    """policy/policies.py as a module, loaded once."""
    spec = importlib.util.spec_from_file_location(MODULE, POLICY_FILE)
    assert spec is not None and spec.loader is not None, POLICY_FILE
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Violation:
    """One finding, with the resource it is about ("pulumi:pulumi:Stack" when it is about the stack)."""

    stack: str
    policy: str
    enforcement: str
    resource_type: str
    resource_name: str
    urn: str
    message: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == policies().MANDATORY

    def __str__(self) -> str:
        return f"{self.policy} [{self.enforcement}] {self.urn}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def planned(stacks: list[str]) -> list[Graph]:
    """Load and validate every stack, then plan each with traceable computed values.

    Traceable, unlike `infra plan`: a value only a provider knows (an Azure client ID, a storage account's
    name inside a Job's script) gets a named stand-in instead of "[unknown]", so objects built from such
    values (the backup Job's whole spec) are checked and rendered in full. Secrets stay "[secret]".
    """
    from infra.config.loader import load_stack

    loaded = [load_stack(name) for name in stacks]
    from infra.plan.engine import run  # after validation: bad input never pays for the SDK import
    from infra.program import program_for

    return [run(program_for(stack), stack.name, stack.config, traceable=True) for stack in loaded]


def view(registration: Registration) -> Any:
    """The policies' Resource view of a registration (inputs as the plan shows them: secrets masked)."""
    return policies().Resource(
        type=registration.type,
        name=registration.name,
        urn=registration.urn,
        props=registration.inputs,
        protect=registration.protect,
        parent=registration.parent or None,
        dependencies=tuple(registration.dependencies),
    )


def check_resources(stack: str, resources: list[Any], names: set[str] | None = None) -> list[Violation]:
    """Every violation of every policy (or only those in `names`) over one stack's resources."""
    module = policies()
    by_urn = {r.urn: r for r in resources}
    found = []
    for policy in module.POLICIES:
        if names is not None and policy.name not in names:
            continue
        for finding in module.run(policy, resources):
            resource = by_urn.get(finding.urn)
            found.append(
                Violation(
                    stack=stack,
                    policy=policy.name,
                    enforcement=policy.enforcement,
                    resource_type=resource.type if resource else "pulumi:pulumi:Stack",
                    resource_name=resource.name if resource else stack,
                    urn=finding.urn,
                    message=finding.message,
                )
            )
    return found


def check_graph(graph: Graph) -> list[Violation]:
    """Every violation in a planned stack."""
    return check_resources(graph.stack, [view(r) for r in graph.registrations])
