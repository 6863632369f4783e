"""`infra doctor` against recorded Azure Resource Manager responses (tests/fixtures/arm), passing and failing."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra import doctor
from infra.cli.main import app
from infra.config.loader import load_stack

from .conftest import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "arm"
SUB = "9f1a6c2e-4b7d-4e0a-8c3f-2d5b7e9a1c04"
OID = "3c9e1f70-2a4b-4d8e-9f61-7b0c5a2e8d13"


class Recorded:
    """Answers each documented ARM GET from a recorded body; any other request fails the test."""

    def __init__(self, scenario: str) -> None:
        self.root = FIXTURES / scenario
        self.asked: list[str] = []

    def __call__(self, path: str) -> dict[str, Any]:
        self.asked.append(path)
        route, _, query = path.partition("?")
        assert re.search(r"api-version=\d{4}-\d{2}-\d{2}", query), path
        base = f"/subscriptions/{SUB}/providers"
        if route == f"{base}/Microsoft.Authorization/roleAssignments":
            assert f"$filter=assignedTo('{OID}')" in query, "only the deployer's own assignments"
            return self._read("roleAssignments.json")
        if match := re.fullmatch(rf"{base}/Microsoft.Authorization/roleDefinitions/([0-9a-f-]{{36}})", route):
            return self._read(f"roleDefinitions/{match[1]}.json")
        if match := re.fullmatch(rf"{base}/Microsoft.Compute/locations/([a-z0-9]+)/usages", route):
            return self._read(f"usages-{match[1]}.json")
        if route == base:
            return self._read("providers.json")
        raise AssertionError(f"unexpected ARM request {path}")

    def _read(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.root / name).read_text()))


def checks(scenario: str, stack: str = "platform") -> dict[str, doctor.Check]:
    return {c.check: c for c in doctor.run(load_stack(stack, ROOT), Recorded(scenario), SUB, OID)}


def test_a_ready_subscription_passes_every_check() -> None:
    found = checks("ready")
    assert all(c.ok for c in found.values()), [c.line() for c in found.values() if not c.ok]
    assert {"provider Microsoft.ContainerService", "provider Microsoft.Monitor", "provider Microsoft.Security"} <= set(
        found
    ), "platform's monitoring switches add their providers"
    assert found["quota uksouth standardDDSv5Family"].detail.startswith("needs 128 vCPUs, 342 free")


def test_a_new_subscription_fails_with_one_line_and_a_fix_each() -> None:
    found = checks("new-subscription")
    failed = {name: c for name, c in found.items() if not c.ok}
    # Contributor cannot grant roles, define roles, lock or assign policy; an Owner on one group does not count.
    assert {n for n in failed if n.startswith("rights ")} == {
        "rights Microsoft.Authorization/roleAssignments/write",
        "rights Microsoft.Authorization/roleDefinitions/write",
        "rights Microsoft.Authorization/locks/write",
        "rights Microsoft.Authorization/policyAssignments/write",
    }
    assert found["rights Microsoft.ContainerService/managedClusters/write"].ok, "Contributor may create the cluster"
    assert found["quota uksouth standardDDSv5Family"].detail == "needs 128 vCPUs, 10 free (0 used of 10)"
    assert not found["quota uksouth cores"].ok
    assert {n for n in failed if n.startswith("provider ")} == {
        "provider Microsoft.ContainerService",
        "provider Microsoft.Monitor",
        "provider Microsoft.Security",
    }
    for check in failed.values():
        line = check.line()
        assert line.startswith("FAIL ") and "\n" not in line and "; fix: " in line, line
    assert (
        "az provider register --namespace Microsoft.ContainerService"
        in failed["provider Microsoft.ContainerService"].fix
    )
    assert "User Access Administrator" in failed["rights Microsoft.Authorization/roleDefinitions/write"].fix


def test_staging_needs_less_than_platform() -> None:
    """Quota at the autoscaler's maximum plus one per-zone pool's upgrade surge, from the model's VM-size table."""
    assert doctor.need(load_stack("staging", ROOT)).vcpus == {
        ("uksouth", "standardDDSv5Family"): 36,
        ("uksouth", "cores"): 36,
    }
    assert checks("new-subscription", "staging")["quota uksouth standardDDSv5Family"].detail.startswith("needs 36")


def _token(claims: dict[str, str]) -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


@pytest.mark.parametrize(("scenario", "code"), [("ready", 0), ("new-subscription", 1)])
def test_the_cli_prints_json_and_exits_by_the_checks(monkeypatch: pytest.MonkeyPatch, scenario: str, code: int) -> None:
    monkeypatch.setattr(doctor, "connect", lambda: doctor.Session(Recorded(scenario), SUB, OID))
    result = CliRunner().invoke(app, ["doctor", "--stack", "platform", "--json"])
    assert result.exit_code == code, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is (code == 0) and document["subscription"] == SUB
    assert all(set(c) == {"check", "ok", "detail", "fix"} for c in document["checks"])


def test_the_token_names_the_principal_and_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    token = _token({"oid": OID, "tid": "t"})
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", token)
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUB)
    session = doctor.connect()
    assert (session.subscription, session.principal) == (SUB, OID)
    assert token not in json.dumps(doctor.report("platform", session, []))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["doctor", "--stack", "local"], "--stack: local runs on kind"),
        (["doctor", "--stack", "nosuch"], "stacks/Pulumi.nosuch.yaml: no such stack"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert "Traceback" not in result.output


def test_azure_that_cannot_be_asked_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", "not-a-jwt")
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUB)
    result = CliRunner().invoke(app, ["doctor", "--stack", "staging"])
    assert result.exit_code == 2 and "infra doctor: AZURE_ACCESS_TOKEN is not a JWT" in result.output


def test_rights_held_on_each_of_the_stacks_groups_count_and_authorization_writes_are_still_missing() -> None:
    found = checks("bootstrapped", "staging")
    assert found["rights Microsoft.ContainerService/managedClusters/write"].ok, "Contributor on every group"
    assert not found["rights Microsoft.Authorization/roleDefinitions/write"].ok
    assert not found["rights Microsoft.Authorization/locks/write"].ok
    # One group short is not enough: platform deploys into groups this deployer has no role on.
    assert not checks("bootstrapped", "platform")["rights Microsoft.ContainerService/managedClusters/write"].ok
