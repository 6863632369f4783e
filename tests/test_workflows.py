"""The GitHub workflows: actionlint finds nothing, and each property the release process relies on holds.

Properties, one test each: actions pinned by commit SHA; CI runs `make test`; the policy pack on every
real preview and up; fail closed on a missing backend or identity variable; platform is previewed
(saved plan) before its approval and applies that plan; its pins reach main through a PR first;
one identity per environment, matching the OIDC subjects bootstrap trusts; deploy jobs install only
the hash-locked runtime dependencies, cached; Renovate covers actions, Python, charts and images.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
POLICY_PACK = "${{ github.workspace }}/policy/analyzer"
SHA_PIN = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s+(v\d+\.\d+\.\d+)\s*$")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).split("@")[0].lower() == action.lower()]


def _jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in FILES:
        for job_id, job in _load(path.name)["jobs"].items():
            yield path.name, job_id, job


def _engine_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    """pulumi/actions steps that run a command (preview or up), not the ones that only install the CLI."""
    return [s for s in _uses(job, "pulumi/actions") if s.get("with", {}).get("command")]


def _cloud_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Jobs that get an Azure OIDC token."""
    return ((f, j, job) for f, j, job in _jobs() if job.get("permissions", {}).get("id-token") == "write")


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in _steps(job))


def oidc_subject(workflow: str, job: dict[str, Any]) -> str:
    """The `sub` claim GitHub puts in this job's OIDC token (repository part left out).

    An `environment:` job gets `environment:<name>`; otherwise a pull_request run gets `pull_request`,
    and runs on main (push, schedule, workflow_run, dispatch on main) get `ref:refs/heads/main`
    (https://docs.github.com/en/actions/reference/security/oidc#example-subject-claims).
    """
    if "environment" in job:
        return f"environment:{job['environment']}"
    return "pull_request" if "pull_request" in _load(workflow)["on"] else "ref:refs/heads/main"


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


def test_every_action_is_pinned_by_commit_sha_with_its_tag_and_permissions_are_explicit() -> None:
    assert {f.name for f in FILES} >= {"ci.yml", "preview.yml", "deploy-staging.yml", "deploy-platform.yml"}
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in FILES:
        data = _load(path.name)
        assert "write" not in str(data["permissions"]), f"{path.name}: write permissions belong to jobs"
        for line in path.read_text().splitlines():
            if re.match(r"^\s*(-\s+)?uses:", line):
                match = SHA_PIN.match(line)
                assert match, f"{path.name}: `{line.strip()}` is not `owner/repo@<40-hex sha>  # vX.Y.Z`"
                pins.setdefault(match[1].lower(), set()).add((match[2], match[3]))
    for action, seen in pins.items():
        assert len(seen) == 1, f"{action} is pinned to more than one commit: {seen}"


def test_ci_runs_make_test_on_pull_requests_without_credentials() -> None:
    data = _load("ci.yml")
    assert data["on"]["pull_request"]["branches"] == ["main"] and "pull_request_target" not in data["on"]
    job = data["jobs"]["test"]
    assert "make test" in _runs(job).splitlines()
    assert job["permissions"] == {"contents": "read"}, "the code's CI holds no cloud token"
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()
    cache = _uses(job, "actions/cache")[0]["with"]
    assert cache["path"] == "~/.cache/micro-infra" and "scripts/pulumi-build/**" in cache["key"]


def test_the_policy_pack_runs_in_every_real_preview_and_up() -> None:
    seen = 0
    for workflow, job_id, job in _jobs():
        steps = _steps(job)
        engine = [i for i, s in enumerate(steps) if s in _engine_steps(job) or "infra preview" in s.get("run", "")]
        for i in engine:
            step, seen = steps[i], seen + 1
            where = f"{workflow}: {job_id}: {step.get('name', step.get('uses'))}"
            if "run" in step:
                assert '--policy-pack "$GITHUB_WORKSPACE/policy/analyzer"' in step["run"], where
            else:
                assert step["with"]["policyPacks"] == POLICY_PACK, where
            venv = next(j for j, s in enumerate(steps) if "scripts/ensure-tool-venvs policy" in s.get("run", ""))
            assert venv < i, f"{where}: the pack's venv is installed first"
            locked = steps[venv]["env"]["MICRO_INFRA_POLICY_REQUIREMENTS"]
            assert locked == "policy/requirements-deploy.lock", f"{where}: the pack's venv is hash-checked too"
    assert seen >= 10


def test_cloud_jobs_fail_closed_before_any_credential_is_asked_for() -> None:
    for workflow, job_id, job in _cloud_jobs():
        env, steps = job["env"], _steps(job)
        assert env["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}", (workflow, job_id)
        guard = steps[0]["run"]
        for name in ("PULUMI_BACKEND_URL", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"):
            assert name in guard, (workflow, job_id, name)
        assert "[[ -n ${!name} ]]" in guard and "exit 1" in guard
        login = _uses(job, "azure/login")
        assert login and steps.index(login[0]) > 0, f"{workflow}: {job_id}: the guard runs first"
        for step in _engine_steps(job):
            assert step["with"]["cloud-url"] == "${{ env.PULUMI_BACKEND_URL }}", (workflow, job_id)


def test_the_guard_refuses_an_empty_backend_variable() -> None:
    """The guard's shell, run as the runner runs it (bash -e): an empty variable exits 1 with an annotation."""
    _, _, job = next(j for j in _cloud_jobs() if j[1] == "apply")
    guard = _steps(job)[0]["run"]
    ok = {
        "PULUMI_BACKEND_URL": "azblob://state",
        "AZURE_CLIENT_ID": "c",
        "AZURE_TENANT_ID": "t",
        "AZURE_SUBSCRIPTION_ID": "s",
    }
    passed = subprocess.run(["bash", "-e", "-c", guard], env=ok, capture_output=True, text=True)
    failed = subprocess.run(
        ["bash", "-e", "-c", guard], env={**ok, "PULUMI_BACKEND_URL": ""}, capture_output=True, text=True
    )
    assert passed.returncode == 0, passed.stdout
    assert failed.returncode == 1 and "::error::PULUMI_BACKEND_URL is empty" in failed.stdout


def test_platform_is_previewed_before_its_approval_and_applies_the_saved_plan() -> None:
    data = _load("deploy-platform.yml")
    assert data["on"]["workflow_run"] == {"workflows": ["deploy staging"], "types": ["completed"], "branches": ["main"]}
    assert data["concurrency"] == {"group": "pulumi-platform", "cancel-in-progress": False}
    for plan_id, apply_id, stack in (
        ("plan", "apply", "platform"),
        ("plan-regions", "apply-regions", "${{ matrix.stack }}"),
    ):
        plan, apply = data["jobs"][plan_id], data["jobs"][apply_id]
        assert "environment" not in plan, "the preview needs no approval: it changes nothing"
        assert apply["environment"] == "platform" and plan_id in apply["needs"], "approval after the preview"
        preview = _engine_steps(plan)
        assert [s["with"]["command"] for s in preview] == ["preview"]
        saved = preview[0]["with"]["plan"]
        assert saved == f"{stack}.plan.json" and preview[0]["with"]["stack-name"] == stack
        upload = _uses(plan, "actions/upload-artifact")[0]["with"]
        download = _uses(apply, "actions/download-artifact")[0]["with"]
        assert upload["path"] == saved and download["name"] == upload["name"]
        commands = [
            (s["with"]["command"], s["with"].get("plan"), s["with"].get("expect-no-changes"))
            for s in _engine_steps(apply)
        ]
        assert commands == [("up", saved, None), ("preview", None, True)], "the approved plan, then converged"
        assert _steps(apply).index(_uses(apply, "actions/download-artifact")[0]) < _steps(apply).index(
            _engine_steps(apply)[0]
        )
        for job in (plan, apply):
            assert _uses(job, "actions/checkout")[0]["with"]["ref"] == "${{ env.COMMIT }}", (
                "one commit, planned and applied"
            )
    assert data["jobs"]["regions"]["needs"] == "apply", "region stacks read platform's zones"


def test_pins_reach_main_through_a_pull_request_before_production_runs_them() -> None:
    promote = _load("promote.yml")
    assert not any(_engine_steps(job) for job in promote["jobs"].values()), "promote.yml deploys nothing"
    propose, pr = promote["jobs"]["propose"], promote["jobs"]["pull-request"]
    assert "infra promote --from staging --to platform" in _runs(propose)
    assert "--allow-undeployed" not in _runs(propose), "staging must run the pins it hands on"
    token = _uses(pr, "actions/create-github-app-token")[0]
    opened = _uses(pr, "peter-evans/create-pull-request")[0]["with"]
    assert opened["token"] == f"${{{{ steps.{token['id']}.outputs.token }}}}", "a GITHUB_TOKEN PR would run no checks"
    assert opened["add-paths"] == "environments/platform.yaml"
    assert pr["permissions"] == {"contents": "read"} and "id-token" not in str(pr)
    for workflow, job_id, job in _jobs():
        for step in _uses(job, "actions/download-artifact") if _engine_steps(job) else []:
            assert step["with"]["path"] != "environments", f"{workflow}: {job_id} deploys files that are not on main"
        if workflow.startswith("deploy-"):
            checkout = _uses(job, "actions/checkout")[0].get("with", {})
            assert checkout.get("ref", "${{ env.COMMIT }}") == "${{ env.COMMIT }}", (workflow, job_id)
    # PRs that change environments/platform.yaml are previewed on platform by the engine.
    assert '"local" and . != "parity"' in _runs(_load("preview.yml")["jobs"]["affected"])


def test_each_environment_has_its_own_identity() -> None:
    subjects: dict[str, set[str]] = {}
    for workflow, job_id, job in _cloud_jobs():
        subject = oidc_subject(workflow, job)
        client = job["env"]["AZURE_CLIENT_ID"]
        expected = (
            "${{ vars.AZURE_DEPLOY_CLIENT_ID }}" if "environment" in job else "${{ vars.AZURE_READER_CLIENT_ID }}"
        )
        assert client == expected and job["env"].get("ARM_CLIENT_ID", client) == client, (workflow, job_id)
        assert _uses(job, "azure/login")[0]["with"]["client-id"] == "${{ env.AZURE_CLIENT_ID }}"
        subjects.setdefault(subject, set()).add(f"{workflow}:{job_id}")
        if "environment" not in job:
            assert not any(s["with"]["command"] == "up" for s in _engine_steps(job)), f"{workflow}: {job_id}: read-only"
    assert set(subjects) == {"pull_request", "ref:refs/heads/main", "environment:staging", "environment:platform"}
    text = "\n".join(f.read_text() for f in FILES)
    assert "PULUMI_CONFIG_PASSPHRASE" not in text, "cloud stacks use the Key Vault secrets provider"
    assert "vars.AZURE_CLIENT_ID" not in text, "no shared repository-wide identity"


def test_deploy_jobs_install_only_the_hash_locked_runtime_dependencies_cached() -> None:
    for workflow, job_id, job in _jobs():
        if workflow == "ci.yml" or not _uses(job, "actions/setup-python"):
            continue
        assert "make deploy-deps" in _runs(job) and ".venv/.installed" not in _runs(job), (workflow, job_id)
        python = _uses(job, "actions/setup-python")[0]["with"]
        assert python["cache"] == "pip" and "requirements-deploy.lock" in python["cache-dependency-path"]
    lock = (ROOT / "requirements-deploy.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.MULTILINE))
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9]", lock, re.MULTILINE)), "every requirement is pinned"
    body = "\n".join(line for line in lock.splitlines() if not line.startswith("#"))
    for block in re.split(r"\n(?=[A-Za-z0-9])", body.strip()):
        assert "--hash=sha256:" in block, block.splitlines()[0]
    norm = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    dev = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().split())
    for name, version in dev.items():
        assert norm.get(name.lower().replace("_", "-"), version) == version, f"{name}: the two locks disagree"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[=<>~!]", requirement)[0].lower().replace("_", "-")
        assert name in norm, f"{name} (pyproject dependencies) is not in requirements-deploy.lock"
    for dev_only in ("mypy", "ruff", "pytest", "hypothesis", "pulumi-azure-native"):
        assert dev_only not in norm, f"{dev_only} is a dev tool: not next to cloud credentials"
    policy = (ROOT / "policy" / "requirements-deploy.lock").read_text()
    frozen = {line for line in (ROOT / "policy" / "requirements.txt").read_text().splitlines() if "==" in line}
    hashed = set(re.findall(r"^(\S+==\S+) \\$", policy, re.MULTILINE))
    policy_pins = {p.lower().replace("_", "-") for p in frozen}
    assert policy_pins <= {h.lower().replace("_", "-") for h in hashed}, "the policy venv's pins, with their hashes"
    assert policy.count("--hash=sha256:") >= len(hashed)
    recipe = (ROOT / "Makefile").read_text().split("\ndeploy-deps:")[1].split("\n\n")[0]
    assert "--require-hashes" in recipe and "requirements-deploy.lock" in recipe


def test_renovate_covers_actions_python_charts_and_images_but_not_platform_pins() -> None:
    config = json.loads((ROOT / "renovate.json").read_text())
    assert {"github-actions", "pip_requirements", "custom.regex"} <= set(config["enabledManagers"])
    assert "helpers:pinGitHubActionDigests" in config["extends"]
    patterns = [re.compile(p.strip("/")) for p in config["pip_requirements"]["managerFilePatterns"]]
    for lock in ("requirements.lock", "requirements-deploy.lock", "policy/requirements.txt"):
        assert any(p.search(lock) for p in patterns), lock
    regex = [m for m in config["customManagers"] if m["customType"] == "regex"]
    staging = (ROOT / "environments/staging.yaml").read_text()
    found: dict[str, str] = {}
    for manager in regex:
        files = [re.compile(p.strip("/")) for p in manager["managerFilePatterns"]]
        if not any(f.search("environments/staging.yaml") for f in files):
            continue
        assert not any(f.search("environments/platform.yaml") for f in files), "platform's pins move by promotion only"
        for pattern in manager["matchStrings"]:
            for match in re.finditer(pattern.replace("(?<", "(?P<"), staging):
                name = match.groupdict().get("depName") or manager["depNameTemplate"]
                found[name] = match["currentValue"]
    release = yaml.safe_load(staging)["release"]
    assert (
        found["micro/micro"] == release["micro"]["tag"]
        and found["gcr.io/etcd-development/etcd"] == release["etcd"]["tag"]
    )
    charts = {"cert-manager": "cert_manager", "nats": "nats", "cockroachdb": "cockroachdb"}
    for dep, key in charts.items():
        assert found[dep] == release["charts"][key], dep
    assert found["docker.io/envoyproxy/gateway-helm"] == release["charts"]["envoy_gateway"]
    cli = next(
        m
        for m in regex
        if any(re.compile(p.strip("/")).search(".github/workflows/ci.yml") for p in m["managerFilePatterns"])
    )
    assert re.search(cli["matchStrings"][0].replace("(?<", "(?P<"), (WORKFLOWS / "deploy-staging.yml").read_text())


# Staging deploys on every merge, then its region stacks, and each must converge.
def test_deploy_staging_workflow() -> None:
    data = _load("deploy-staging.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    assert data["concurrency"] == {"group": "pulumi-staging", "cancel-in-progress": False}
    for job_id, stack in (("up", "staging"), ("up-regions", "${{ matrix.stack }}")):
        job = data["jobs"][job_id]
        assert job["environment"] == "staging"
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, "OIDC, and nothing else writable"
        commands = [
            (s["with"]["command"], s["with"]["stack-name"], s["with"].get("expect-no-changes"))
            for s in _engine_steps(job)
        ]
        assert commands == [("up", stack, None), ("preview", stack, True)]
    regions, up = data["jobs"]["regions"], data["jobs"]["up-regions"]
    assert regions["needs"] == "up", "region stacks read the primary's zones: the primary goes first"
    assert "infra stack list --env staging --regional --json" in _runs(regions)
    assert up["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.regions.outputs.stacks) }}"
    assert up["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}


# PRs: the engine previews same-repository PRs; forks get the offline diff and no secrets.
def test_preview_workflow() -> None:
    data = _load("preview.yml")
    assert "pull_request" in data["on"] and "pull_request_target" not in data["on"]
    jobs = data["jobs"]
    same, fork = jobs["preview"], jobs["offline-diff"]
    assert "head.repo.full_name == github.repository" in same["if"]
    assert "head.repo.full_name != github.repository" in fork["if"]
    assert 'infra preview --stack "$STACK"' in _runs(same) and "--comment comment.md" in _runs(same)
    assert same["permissions"]["id-token"] == "write" and same["permissions"]["pull-requests"] == "write"
    assert _uses(same, "marocchino/sticky-pull-request-comment")[0]["with"]["header"] == "preview-${{ matrix.stack }}"
    assert "infra diff --base" in _runs(fork)
    assert "secrets." not in yaml.safe_dump(fork) and fork["permissions"] == {"contents": "read"}
    poster = _load("preview-comment.yml")
    assert poster["on"]["workflow_run"]["workflows"] == ["preview"]
    assert all("actions/checkout" not in str(s.get("uses")) for s in _steps(poster["jobs"]["comment"])), (
        "the fork's code never runs with a write token"
    )


# Nightly: refresh + preview must show no change; a failure opens one issue, not one a night.
def test_drift_workflow() -> None:
    data = _load("drift.yml")
    assert data["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"], "daily"
    assert "infra stack list --json" in _runs(data["jobs"]["stacks"]), "the same stack listing as the deploys"
    preview = data["jobs"]["preview"]
    (run,) = [s["run"] for s in _steps(preview) if "infra preview" in s.get("run", "")]
    assert {"--refresh", "--diff", "--expect-no-changes"} <= set(run.split()), "refresh, then fail on any drift"
    assert not _engine_steps(preview), "pulumi's own --expect-no-changes would flag the provider's fresh token"
    assert preview["concurrency"]["group"] == "pulumi-${{ matrix.stack }}", "shares the deploys' per-stack group"
    report = data["jobs"]["report"]
    assert report["if"] == "failure()" and report["permissions"] == {"issues": "write"}
    script = _uses(report, "actions/github-script")[0]["with"]["script"]
    assert 'state: "open"' in script and "open.length > 0" in script
