"""The project a command acts on: found from where you stand, like pulumi and git, never the installed one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config.loader import ProjectNotFound, repo_root

from .conftest import ROOT

INFRA = [sys.executable, "-c", "from infra.cli.main import run; run()"]


def _infra(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "MICRO_INFRA_ROOT"}
    return subprocess.run(
        [*INFRA, *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second clone of this checkout, its local stack's hosts renamed so its plan is told apart."""
    target = tmp_path_factory.mktemp("second") / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=60)
    env = target / "environments" / "local.yaml"
    env.write_text(env.read_text().replace("api: api.localhost", "api: api2.localhost"))
    return target


def test_plan_acts_on_the_clone_it_runs_in(clone: Path) -> None:
    result = _infra(clone / "environments", "plan", "--stack", "local", "--json")
    assert result.returncode == 0, result.stderr
    assert "api2.localhost" in result.stdout, "the clone's environment was planned"
    assert "api2.localhost" not in (ROOT / "environments" / "local.yaml").read_text()


def test_stack_new_writes_into_the_clone_it_runs_in(clone: Path) -> None:
    before = sorted(p.name for p in (ROOT / "stacks").iterdir())
    result = _infra(clone, "stack", "new", "--env", "staging", "--cloud", "azure", "--region", "westeurope", "--yes")
    assert result.returncode == 0, result.stderr
    assert (clone / "stacks" / "Pulumi.staging-westeurope.yaml").is_file()
    assert sorted(p.name for p in (ROOT / "stacks").iterdir()) == before, "the installed checkout is untouched"


def test_outside_a_checkout_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["plan"], ["promote", "--from", "staging", "--to", "platform", "--dry-run"]):
        result = _infra(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [
            f"{tmp_path}: not inside a micro-infra checkout (no Pulumi.yaml with `name: micro-infra` here or above);"
            " cd into one, or set MICRO_INFRA_ROOT"
        ]


def test_micro_infra_root_overrides_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # outside any checkout: only the variable can point at one
    monkeypatch.setenv("MICRO_INFRA_ROOT", str(ROOT))
    assert repo_root() == ROOT
    for value in (str(tmp_path / "nope"), ""):
        monkeypatch.setenv("MICRO_INFRA_ROOT", value)
        with pytest.raises(ProjectNotFound) as info:
            repo_root()
        assert str(info.value) == f"MICRO_INFRA_ROOT: {value!r} is not a directory"


def test_the_nearest_micro_infra_project_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MICRO_INFRA_ROOT", raising=False)
    (tmp_path / "Pulumi.yaml").write_text("name: micro-infra\nruntime: python\n")
    other = tmp_path / "vendored" / "other"
    other.mkdir(parents=True)
    (other / "Pulumi.yaml").write_text("name: something-else\nruntime: go\n")
    (other.parent / "Pulumi.yaml").mkdir()  # not a file: skipped like any other project's
    monkeypatch.chdir(other)
    assert repo_root() == tmp_path
    (tmp_path / "Pulumi.yaml").write_text("name: other\n")
    with pytest.raises(ProjectNotFound, match="not inside a micro-infra checkout"):
        repo_root()
