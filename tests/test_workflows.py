"""The GitHub workflows: actionlint finds nothing, and each does what the release process relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(action + "@")]


def _pulumi(job: dict[str, Any], command: str) -> dict[str, Any]:
    found = [s["with"] for s in _uses(job, "pulumi/actions") if s.get("with", {}).get("command") == command]
    assert len(found) == 1, f"expected one pulumi/actions {command} step, found {len(found)}"
    return found[0]


@pytest.mark.skipif(
    shutil.which("go") is None, reason="Go is not installed: scripts/ensure-actionlint builds actionlint with it"
)
def test_actionlint_passes() -> None:
    built = subprocess.run([ROOT / "scripts" / "ensure-actionlint"], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr
    binary = built.stdout.strip().splitlines()[-1]
    assert not Path(binary).resolve().is_relative_to(ROOT), "tools are cached outside the repository"
    lint = subprocess.run([binary, "-no-color", "-oneline", *map(str, FILES)], capture_output=True, text=True, cwd=ROOT)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_action_is_pinned_and_permissions_are_explicit() -> None:
    assert {f.name for f in FILES} >= {"preview.yml", "deploy-staging.yml", "promote.yml", "drift.yml"}
    for path in FILES:
        data = _load(path.name)
        assert "permissions" in data, f"{path.name}: no top-level permissions (the default token can write)"
        assert "write" not in str(data["permissions"]), (
            f"{path.name}: write permissions belong to the jobs that need them"
        )
        for job_id, job in data["jobs"].items():
            for step in _steps(job):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", step["uses"]), (
                        f"{path.name}: {job_id}: {step['uses']} is not pinned to a release"
                    )
            for step in _uses(job, "pulumi/actions"):
                assert step["uses"] == "pulumi/actions@v7", f"{path.name}: {job_id}: {step['uses']}"


# PRs: the engine previews same-repository PRs; forks get the offline diff and no secrets.
def test_preview_workflow() -> None:
    data = _load("preview.yml")
    assert "pull_request" in data["on"] and "pull_request_target" not in data["on"]
    jobs = data["jobs"]
    same, fork = jobs["preview"], jobs["offline-diff"]
    assert "head.repo.full_name == github.repository" in same["if"]
    assert "head.repo.full_name != github.repository" in fork["if"]
    runs = " ".join(s.get("run", "") for s in _steps(same))
    assert 'infra preview --stack "$STACK" --comment comment.md' in runs
    assert same["permissions"]["id-token"] == "write" and same["permissions"]["pull-requests"] == "write"
    assert _uses(same, "marocchino/sticky-pull-request-comment")[0]["with"]["header"] == "preview-${{ matrix.stack }}"
    assert "matrix.stack" in same["concurrency"]["group"], "one concurrency group per stack"
    assert "infra diff --base" in " ".join(s.get("run", "") for s in _steps(fork))
    assert "secrets." not in yaml.safe_dump(fork) and fork["permissions"] == {"contents": "read"}
    assert "infra diff --base" in " ".join(s.get("run", "") for s in _steps(jobs["affected"]))
    poster = _load("preview-comment.yml")
    assert poster["on"]["workflow_run"]["workflows"] == ["preview"]
    assert "head_repository.full_name != github.repository" in poster["jobs"]["comment"]["if"]
    assert all("actions/checkout" not in str(s.get("uses")) for s in _steps(poster["jobs"]["comment"])), (
        "the fork's code never runs with a write token"
    )


def test_deploy_staging_workflow() -> None:
    data = _load("deploy-staging.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    assert data["concurrency"] == {"group": "pulumi-staging", "cancel-in-progress": False}
    job = data["jobs"]["up"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}, "OIDC, and nothing else writable"
    up = _pulumi(job, "up")
    assert up["stack-name"] == "staging" and up["work-dir"] == "."
    assert _uses(job, "azure/login")[0]["uses"] == "azure/login@v2"
    step = next(s for s in _uses(job, "pulumi/actions") if s["with"].get("command") == "up")
    assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def _region_jobs(data: dict, env: str, after: str) -> tuple[dict, dict]:
    """The listing job and the matrix that deploys each region stack of `env` after the `after` job."""
    regions, up = data["jobs"]["regions"], data["jobs"]["up-regions"]
    assert regions["needs"] == after, "region stacks read the primary's zones: the primary goes first"
    listing = next(s["run"] for s in _steps(regions) if s.get("id") == "list")
    assert f"infra stack list --env {env} --regional --json" in listing
    assert up["needs"] == "regions" and up["if"] == "needs.regions.outputs.stacks != '[]'"
    assert up["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.regions.outputs.stacks) }}"
    assert up["strategy"]["fail-fast"] is False
    assert up["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    assert up["environment"] == env and up["permissions"] == {"contents": "read", "id-token": "write"}
    assert _pulumi(up, "up")["stack-name"] == "${{ matrix.stack }}"
    return regions, up


def test_deploy_staging_deploys_its_region_stacks_after_it() -> None:
    _, up = _region_jobs(_load("deploy-staging.yml"), "staging", after="up")
    step = next(s for s in _uses(up, "pulumi/actions") if s["with"].get("command") == "up")
    assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_promote_deploys_platform_region_stacks_with_the_promoted_pins() -> None:
    _, up = _region_jobs(_load("promote.yml"), "platform", after="promote")
    steps = _steps(up)
    download = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/download-artifact"))
    assert steps[download]["with"] == {"name": "platform-environment", "path": "environments"}
    commands = [s.get("with", {}).get("command") for s in steps]
    assert download < commands.index("up") < commands.index("preview"), "promoted pins, then up, then converged"
    assert _pulumi(up, "preview")["expect-no-changes"] is True


# Platform changes only after a human approves, with staging's pins, and must converge.
def test_promote_workflow() -> None:
    data = _load("promote.yml")
    assert "workflow_dispatch" in data["on"]
    assert data["on"]["workflow_run"] == {"workflows": ["deploy staging"], "types": ["completed"], "branches": ["main"]}
    job = data["jobs"]["promote"]
    assert job["environment"] == "platform", "the platform environment's reviewers approve the job"
    assert "conclusion == 'success'" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    order = [s.get("run", "") or s.get("with", {}).get("command", "") for s in _steps(job)]
    promote = next(i for i, s in enumerate(order) if "infra promote --from staging --to platform" in s)
    assert order.index("up") > promote and order.index("preview") > order.index("up"), order
    assert _pulumi(job, "up")["stack-name"] == "platform"
    preview = _pulumi(job, "preview")
    assert preview["stack-name"] == "platform" and preview["expect-no-changes"] is True
    assert data["concurrency"]["group"] == "pulumi-platform"


# Nightly: refresh + preview must show no change; a failure opens one issue, not one a night.
def test_drift_workflow() -> None:
    data = _load("drift.yml")
    assert data["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"], "daily"
    preview = data["jobs"]["preview"]
    settings = _pulumi(preview, "preview")
    assert settings["refresh"] is True and settings["expect-no-changes"] is True
    assert settings["stack-name"] == "${{ matrix.stack }}"
    assert preview["concurrency"]["group"] == "pulumi-${{ matrix.stack }}", "shares the deploys' per-stack group"
    report = data["jobs"]["report"]
    assert report["if"] == "failure()" and report["permissions"] == {"issues": "write"}
    script = _uses(report, "actions/github-script")[0]
    assert script["uses"] == "actions/github-script@v7"
    assert 'state: "open"' in script["with"]["script"] and "open.length > 0" in script["with"]["script"]
