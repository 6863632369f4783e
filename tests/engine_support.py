"""The real engine for tests: a built CLI (scripts/ensure-pulumi) and throwaway copies of the project.

Shared by the engine-marked tests; the `engine_bin` fixture is registered in conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

PASSPHRASE = "test"


def ensure_engine() -> Path:
    """The bin directory of the real engine; builds it on first use (about 20 minutes cold, <1 s cached)."""
    done, seconds, first = _ensure_pulumi()
    if done.returncode != 0:
        if shutil.which("go") is None:
            pytest.skip("Go is not installed: scripts/ensure-pulumi needs Go (>= 1.26.6) to build the Pulumi engine")
        pytest.fail(f"scripts/ensure-pulumi failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    if first:
        record("ensure-pulumi", seconds)
    return Path(done.stdout.strip().splitlines()[-1])


_ENSURED: list[tuple[subprocess.CompletedProcess[str], float]] = []


def _ensure_pulumi() -> tuple[subprocess.CompletedProcess[str], float, bool]:
    """scripts/ensure-pulumi's result and wall time, run once per session; True the first time."""
    if _ENSURED:
        return (*_ENSURED[0], False)
    started = time.monotonic()
    done = subprocess.run([str(ROOT / "scripts" / "ensure-pulumi")], capture_output=True, text=True, check=False)
    _ENSURED.append((done, time.monotonic() - started))
    return (*_ENSURED[0], True)


@dataclass(frozen=True)
class Workspace:
    """A temporary copy of the project: root (Pulumi.yaml, stacks/, environments/) and its engine env."""

    root: Path
    env: dict[str, str]

    @property
    def state(self) -> Path:
        return Path(self.env["PULUMI_BACKEND_URL"].removeprefix("file://"))

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real CLI in this workspace; fails the test with the CLI's stderr on a non-zero exit."""
        done = subprocess.run(
            ["pulumi", "--non-interactive", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"pulumi {' '.join(args)} failed:\n{done.stderr[-3000:]}"
        return done

    @contextmanager
    def active(self) -> Iterator[None]:
        """This workspace's engine env in os.environ, which infra/engine.py reads; no outside PULUMI_/ARM_/AZURE_ value."""
        with pytest.MonkeyPatch.context() as patch:
            for key in [k for k in os.environ if k.startswith(("PULUMI_", "ARM_", "AZURE_"))]:
                patch.delenv(key)
            for key, value in self.env.items():
                patch.setenv(key, value)
            yield

    def init_stack(self, name: str) -> None:
        """A new stack with the secure value every stack takes (the backup passphrase)."""
        self.pulumi("stack", "init", name)
        self.pulumi("config", "set", "--stack", name, "--secret", "micro-infra:backupPassphrase", "s3cr3t")


def make_workspace(base: Path, bin_dir: Path) -> Workspace:
    """Copy the project's data files under `base`; link the code and the venv back to this checkout.

    Pulumi.yaml names `main: infra/` and `virtualenv: .venv`, both relative to the project, so the copy
    links them. The program itself imports from the editable install, and reads environments/ from
    the copy through MICRO_INFRA_ROOT.
    """
    root = base / "repo"
    root.mkdir(parents=True)
    shutil.copy2(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    shutil.copytree(ROOT / "environments", root / "environments")
    (root / "infra").symlink_to(ROOT / "infra", target_is_directory=True)
    (root / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    state = base / "state"
    state.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "ARM_", "AZURE_"))},
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "PULUMI_BACKEND_URL": state.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_HOME": str(base / "pulumi-home"),
        "MICRO_INFRA_ROOT": str(root),
    }
    return Workspace(root, env)


def render_mode(stack_file: Path, rendered: Path) -> None:
    """Point a local stack file at a render directory, without Helm and without a kube context.

    The kube context goes because the provider refuses `context` together with `renderYamlToDirectory`
    ("context" arg is not compatible with "renderYamlToDirectory" arg), and rendering needs no cluster.
    """
    data = yaml.safe_load(stack_file.read_text())
    config = data["config"]
    config.pop("micro-infra:kubeContext", None)
    config["micro-infra:renderYamlToDirectory"] = str(rendered)
    config["micro-infra:helmReleases"] = False
    stack_file.write_text(yaml.safe_dump(data, sort_keys=False))


TIMINGS: list[str] = []
"""Step timings not yet attached to a test report (conftest.py moves them onto the next one)."""


def record(step: str, seconds: float) -> None:
    """A step's wall time, shown under "engine timing" at the end of the run (also from xdist workers, which
    have no terminal of their own: the timing travels in the report's user_properties)."""
    TIMINGS.append(f"{step}: {seconds:.1f}s")
