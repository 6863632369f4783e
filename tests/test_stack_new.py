"""`infra stack new`: a region stack is added whole (three files, validated and planned) or not at all."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from infra.cli.main import app
from infra.config.errors import ConfigError, Problem
from infra.config.loader import load_environment, load_stack
from infra.plan.engine import Graph
from infra.workflows import stack_new
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of environments/ and stacks/: tests never touch the repository's files."""
    for folder in ("environments", "stacks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _new(root: Path, *args: str) -> Result:
    return runner.invoke(app, ["stack", "new", *args], env={"MICRO_INFRA_ROOT": str(root)})


# The happy path: new stack file, region appended to the environment (comments kept), primary pinned.
def test_stack_new_adds_a_region_stack(root: Path) -> None:
    env_before = (root / "environments/staging.yaml").read_text()
    platform = _hashes(root)
    result = _new(root, "--env", "staging", "--cloud", "azure", "--region", "westeurope", "--yes", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stack"] == "staging-westeurope"
    assert summary["files"] == [
        "stacks/Pulumi.staging-westeurope.yaml",
        "environments/staging.yaml",
        "stacks/Pulumi.staging.yaml",
    ]
    assert summary["changeSummary"]["create"] > 100, "the offline plan of the new stack builds a whole region"

    config = yaml.safe_load((root / "stacks/Pulumi.staging-westeurope.yaml").read_text())["config"]
    assert config == {
        "micro-infra:environment": "staging",
        "micro-infra:regions": ["westeurope"],
        "micro-infra:zonesStack": "staging",
        "azure-native:location": "westeurope",
    }
    env_after = (root / "environments/staging.yaml").read_text()
    head, tail = env_before.split("dns:\n", 1)
    assert env_after.startswith(head) and env_after.endswith("dns:\n" + tail), "only an insertion inside regions:"
    env = load_environment(root / "environments/staging.yaml")
    assert [r.name for r in env.regions] == ["uksouth", "westeurope"]
    assert env.regions[1].cluster == env.regions[0].cluster, "the new region is sized like the primary one"
    primary = load_stack("staging", root)
    assert primary.settings.regions == ["uksouth"], "the primary stack must not start building westeurope"
    assert "# yaml-language-server" in env_after and "# no uptime SLA" in env_after, "comments are kept"
    assert load_stack("staging-westeurope", root).settings.zones_stack == "staging"
    changed = {k for k, v in _hashes(root).items() if platform.get(k) != v}
    assert changed == set(summary["files"]), "nothing else is touched"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--env", "prod", "--cloud", "azure", "--region", "westeurope"],
            "--env: no environment 'prod'; environments: local, parity, platform, staging",
        ),
        (
            ["--env", "staging", "--cloud", "kind", "--region", "westeurope"],
            "--cloud: region stacks can be built on azure only",
        ),
        (["--env", "local", "--cloud", "azure", "--region", "westeurope"], "--env: local is a kind environment"),
        (
            ["--env", "staging", "--cloud", "azure", "--region", "westeurop"],
            "--region: 'westeurop' is not an Azure region with availability zones; did you mean westeurope",
        ),
        (
            ["--env", "staging", "--cloud", "azure", "--region", "uksouth"],
            "--region: uksouth is already built by stack staging",
        ),
    ],
)
def test_stack_new_bad_input(root: Path, args: list[str], message: str) -> None:
    before = _hashes(root)
    result = _new(root, *args, "--yes")
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _hashes(root) == before


def test_stack_new_refuses_an_existing_stack(root: Path) -> None:
    (root / "stacks/Pulumi.platform-westeurope.yaml").write_text("config:\n  micro-infra:environment: platform\n")
    result = _new(root, "--env", "platform", "--cloud", "azure", "--region", "westeurope", "--yes")
    assert result.exit_code == 2
    assert "--region: stack platform-westeurope already exists" in result.stderr


def test_naming_rules() -> None:
    assert stack_new.naming_problems("staging", "westeurope") == []
    problems = stack_new.naming_problems("staging", "a" * 60)
    assert any("stack names match" in p for p in problems)
    assert any("AKS cluster name" in p for p in problems), problems


# A failure after the edits were computed leaves every file byte-identical: validation, planning, writing.
@pytest.mark.parametrize("failure", ["validation", "plan", "write", "no answer"])
def test_failed_stack_new_changes_nothing(root: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    if failure == "validation":

        def invalid(copy: Path, new: stack_new.NewStack) -> None:
            raise ConfigError([Problem(f"stacks/Pulumi.{new.stack}.yaml", "config", "invalid for the test")])

        monkeypatch.setattr(stack_new, "validate", invalid)
    elif failure == "plan":

        def crash(stack: object) -> Callable[[], None]:
            def program() -> None:
                raise RuntimeError("boom")

            return program

        monkeypatch.setattr("infra.program.program_for", crash)
    elif failure == "write":
        real = stack_new._replace
        calls = []

        def flaky(target: Path, data: bytes) -> None:
            calls.append(target)
            if len(calls) == 3:  # the third file: two are already swapped in and must be put back
                raise OSError("disk full")
            real(target, data)

        monkeypatch.setattr(stack_new, "_replace", flaky)
        monkeypatch.setattr(stack_new, "validate", lambda copy, new: None)
        monkeypatch.setattr("infra.cli.stack._plan", lambda loaded: _tiny_graph())
    before = _hashes(root)
    args = ["--env", "staging", "--cloud", "azure", "--region", "westeurope"]
    result = _new(root, *args) if failure == "no answer" else _new(root, *args, "--yes")
    assert result.exit_code != 0, result.output
    assert _hashes(root) == before, f"{failure}: files changed"
    expected = {
        "validation": "invalid for the test",
        "plan": "the offline plan of staging-westeurope failed, nothing written: RuntimeError: boom",
        "write": "could not write the files (disk full); every file was put back",
        "no answer": "stack new: nothing written (answer y, or pass --yes)",
    }[failure]
    assert expected in result.stderr, result.output


def _tiny_graph() -> Graph:
    return Graph("staging-westeurope", [], {})


def test_help_names_every_flag() -> None:
    result = runner.invoke(app, ["stack", "new", "--help"])
    assert result.exit_code == 0
    for flag in ("--env", "--cloud", "--region", "--json", "--yes", "[required]"):
        assert flag in result.stdout, flag


def _list(root: Path, *args: str) -> Result:
    return runner.invoke(app, ["stack", "list", *args], env={"MICRO_INFRA_ROOT": str(root)})


# CI deploys region stacks after their primary from this listing, so it must be exact and fail loudly.
def test_stack_list_finds_region_stacks_for_ci(root: Path) -> None:
    assert _new(root, "--env", "staging", "--cloud", "azure", "--region", "westeurope", "--yes").exit_code == 0
    every = json.loads(_list(root, "--json").stdout)
    assert [s["stack"] for s in every] == ["local", "parity", "staging", "platform", "staging-westeurope"]
    regional = json.loads(_list(root, "--env", "staging", "--regional", "--json").stdout)
    assert regional == [
        {
            "stack": "staging-westeurope",
            "environment": "staging",
            "cloud": "azure",
            "regions": ["westeurope"],
            "zonesStack": "staging",
        }
    ]
    assert [s["stack"] for s in json.loads(_list(root, "--env", "staging", "--primary", "--json").stdout)] == [
        "staging"
    ]
    assert json.loads(_list(root, "--env", "platform", "--regional", "--json").stdout) == []
    table = _list(root, "--env", "staging")
    assert table.exit_code == 0 and "staging-westeurope" in table.stdout and "westeurope" in table.stdout


def test_stack_list_bad_input_exits_2(root: Path) -> None:
    unknown = _list(root, "--env", "nosuch")
    assert unknown.exit_code == 2 and "--env: no stack uses environment 'nosuch'" in unknown.output
    (root / "stacks/Pulumi.broken.yaml").write_text("config:\n  micro-infra:environment: 12\n")
    broken = _list(root, "--json")
    assert broken.exit_code == 2 and "stacks/Pulumi.broken.yaml" in broken.output, broken.output
    assert "Traceback" not in broken.output and "[" not in broken.stdout, "no partial listing"
