"""`infra promote`: only `release` moves, the source must run it, and protected resources are never replaced."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from infra.cli.main import app
from infra.config.loader import load_environment
from infra.workflows import promote as workflow
from infra.workflows.plan_diff import ResourceChange, StackDiff
from tests.conftest import ROOT

runner = CliRunner()
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copies of environments/ and stacks/ where staging runs a newer release than platform."""
    for folder in ("environments", "stacks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    staging = tmp_path / "environments/staging.yaml"
    data = yaml.safe_load(staging.read_text())
    data["release"]["micro"] = {"repository": "micro/micro", "tag": "v2.9.2", "digest": DIGEST}
    data["release"]["charts"]["nats"] = "2.14.3"
    text = staging.read_text()
    staging.write_text(
        text[: text.index("\nrelease:") + 1] + yaml.safe_dump({"release": data["release"]}, sort_keys=False)
    )
    monkeypatch.setattr(workflow, "deployed_release", lambda stack, root: None)  # no engine in unit tests
    return tmp_path


def _promote(root: Path, *args: str) -> Result:
    return runner.invoke(
        app, ["promote", "--from", "staging", "--to", "platform", *args], env={"MICRO_INFRA_ROOT": str(root)}
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The real thing, offline plans included: release pins move, nothing else does, byte for byte.
def test_promote_copies_release_only(root: Path) -> None:
    target = root / "environments/platform.yaml"
    before = target.read_text()
    old = load_environment(target)
    result = _promote(root, "--json", "--allow-undeployed")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["written"] and report["deployedCheck"] == "skipped"
    assert "release.charts.nats: 2.14.2 → 2.14.3" in report["changes"]
    assert report["plan"]["platform"]["update"] > 0 and report["plan"]["platform"]["replace"] == 0, report["plan"]
    after = target.read_text()
    assert after.startswith(before[: before.index("\nrelease:")]), "everything above release: is byte-identical"
    new = load_environment(target)
    assert new.release == load_environment(root / "environments/staging.yaml").release
    assert new.model_dump(exclude={"release"}) == old.model_dump(exclude={"release"}), "domains, sizes, ACME stay"
    assert new.release.micro.tag == "v2.9.2" and new.release.micro.digest == DIGEST
    assert "warning: --allow-undeployed: cannot read stack staging's outputs" in result.stderr
    again = _promote(root)
    assert again.exit_code == 0 and "platform is already up to date with staging" in again.stderr


def test_dry_run_writes_nothing(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow, "plan_promotion", lambda promotion, where: [StackDiff("platform", ())])
    target = root / "environments/platform.yaml"
    before = _digest(target)
    result = _promote(root, "--dry-run", "--allow-undeployed")
    assert result.exit_code == 0, result.output
    assert "-    tag: v2.9.3" in result.stdout and "+    tag: v2.9.2" in result.stdout
    assert "dry run: nothing written" in result.stderr
    assert _digest(target) == before


# A promotion that would replace a protected resource is refused, and the file is left alone.
def test_refuses_a_protected_replace(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ip = ResourceChange(
        "replace", "urn:pip", "azure-native:network:PublicIPAddress", "platform-uksouth-edge-api", True, ("sku",)
    )
    monkeypatch.setattr(workflow, "plan_promotion", lambda promotion, where: [StackDiff("platform", (ip,))])
    target = root / "environments/platform.yaml"
    before = _digest(target)
    result = _promote(root, "--allow-undeployed")
    assert result.exit_code == 2
    assert (
        "promote: refused: the change would replace azure-native:network:PublicIPAddress platform-uksouth-edge-api "
        "in platform" in result.stderr
    )
    assert _digest(target) == before


def test_refuses_when_the_source_runs_other_pins(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed = load_environment(ROOT / "environments/staging.yaml").release.model_dump(mode="json")
    monkeypatch.setattr(workflow, "deployed_release", lambda stack, root: deployed)
    target = root / "environments/platform.yaml"
    before = _digest(target)
    result = _promote(root)
    assert result.exit_code == 2
    assert "--from: stack staging is not running environments/staging.yaml's release" in result.stderr
    assert "release.micro.tag: v2.9.3 → v2.9.2" in result.stderr and "--allow-undeployed" in result.stderr
    assert _digest(target) == before
    monkeypatch.setattr(workflow, "plan_promotion", lambda promotion, where: [StackDiff("platform", ())])
    overridden = _promote(root, "--allow-undeployed", "--json")
    assert overridden.exit_code == 0, overridden.output
    assert json.loads(overridden.stdout)["deployedCheck"] == "overridden"
    assert "warning: --allow-undeployed: stack staging is not running" in overridden.stderr


def test_refuses_by_default_when_the_source_cannot_be_checked(root: Path) -> None:
    result = _promote(root, "--json")
    assert result.exit_code == 2
    message = json.loads(result.stdout)["error"]["message"]
    assert message.startswith("--from: cannot read stack staging's outputs") and message in result.stderr
    assert result.stderr.count("\n") == 1, "one line"


def test_a_matching_source_passes_the_check(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployed = load_environment(root / "environments/staging.yaml").release.model_dump(mode="json")
    monkeypatch.setattr(workflow, "deployed_release", lambda stack, root: deployed)
    monkeypatch.setattr(workflow, "plan_promotion", lambda promotion, where: [StackDiff("platform", ())])
    result = _promote(root, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deployedCheck"] == "matched"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "staging", "--to", "prod"],
            "--to: no environment 'prod'; environments: local, parity, platform, staging",
        ),
        (["--from", "platform", "--to", "platform"], "--to: platform is also the source"),
        (
            ["--from", "platform", "--to", "staging"],
            "--from: environments/staging.yaml takes no promotions (its promote_from); promotion goes one way",
        ),
        (
            ["--from", "local", "--to", "platform"],
            "--from: environments/platform.yaml takes release pins from staging only (its promote_from)",
        ),
    ],
)
def test_bad_environments(root: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["promote", *args], env={"MICRO_INFRA_ROOT": str(root)})
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_release_block_edit_keeps_what_follows() -> None:
    text = "name: x\nrelease:  # pins\n  micro:\n    tag: a\n\n# about dns\ndns:\n  zones: [a.b]\n"
    assert workflow.replace_release_block(text, "release:\n  micro:\n    tag: b\n") == (
        "name: x\nrelease:\n  micro:\n    tag: b\n\n# about dns\ndns:\n  zones: [a.b]\n"
    )
    with pytest.raises(ValueError, match="no block-style top-level `release:` key"):
        workflow.replace_release_block("release: {micro: {}}\n", "release: {}\n")


def test_deployed_release_is_none_without_an_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("MICRO_INFRA_CACHE", str(tmp_path))  # nor a CLI built by scripts/ensure-pulumi
    assert workflow.deployed_release("staging", ROOT) is None


def test_help_names_every_flag() -> None:
    result = runner.invoke(app, ["promote", "--help"])
    assert result.exit_code == 0
    for flag in ("--from", "--to", "--dry-run", "--allow-undeployed", "--json", "byte for byte", "one way"):
        assert flag in result.stdout, flag
