"""`infra preview|up|outputs|destroy` and `infra local` as a user runs them, in a subprocess.

The lifecycle itself runs in test_engine.py (render mode) and test_engine_plane.py (on an API server).
The confirmation, pass-through and credential tests here need the real engine (marker `engine`); the bad-input paths
(bad stack, no pulumi, no kind or docker) and the kind config template do not, and run with the
rest of the suite. Every run works on a temporary copy of the project (MICRO_INFRA_ROOT), and each
error path also proves that nothing ran: no state directory appears and the stack file is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

from components.kubernetes.edge import KIND_HTTP_NODE_PORT, KIND_HTTPS_NODE_PORT
from tests.conftest import ROOT
from tests.engine_support import Workspace, make_workspace, render_mode

pytestmark = pytest.mark.long

CREDENTIAL_PREFIXES = ("PULUMI_", "ARM_", "AZURE_", "ACTIONS_ID_TOKEN_")
FAKE_SERVICE_PRINCIPAL = {
    "ARM_CLIENT_ID": "00000000-0000-0000-0000-00000000000a",
    "ARM_TENANT_ID": "00000000-0000-0000-0000-00000000000b",
    "ARM_SUBSCRIPTION_ID": "00000000-0000-0000-0000-00000000000c",
    "ARM_CLIENT_SECRET": "not-a-real-secret",
}


def infra(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The `infra` CLI in a subprocess with exactly `env` (the venv's Python, so PATH may be anything)."""
    return subprocess.run(
        [sys.executable, "-m", "infra.cli.main", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def clean_env(root: Path, path: str, **extra: str) -> dict[str, str]:
    """The process environment without credentials or Pulumi settings, pointed at the copy `root`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES) and k != "CI"}
    return {**env, "PATH": path, "MICRO_INFRA_ROOT": str(root), "PULUMI_HOME": str(root.parent / "home"), **extra}


def copy_project(base: Path) -> Path:
    """Pulumi.yaml, stacks/ and environments/ under base/repo; code and venv linked back."""
    root = base / "repo"
    root.mkdir()
    shutil.copy2(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    shutil.copytree(ROOT / "environments", root / "environments")
    (root / "infra").symlink_to(ROOT / "infra", target_is_directory=True)
    (root / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return root


def assert_nothing_ran(root: Path, done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 2, f"exit {done.returncode}, stderr:\n{done.stderr}"
    assert message in done.stderr, f"expected {message!r} in:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert not (root / ".pulumi-state").exists(), "a state directory was created"
    for stack in ("local", "staging", "platform"):
        committed = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
        assert (root / "stacks" / f"Pulumi.{stack}.yaml").read_text() == committed, f"stack file {stack} changed"


# --- bad input: no engine needed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        ("nosuch", "no such stack; known stacks: local, parity, platform, staging"),
        ("Bad_Name", "is not a stack name"),
    ],
)
def test_bad_stack_exits_2_before_anything_runs(tmp_path: Path, stack: str, message: str) -> None:
    root = copy_project(tmp_path)
    for command in (["preview"], ["up", "--yes"], ["destroy", "--yes"]):
        done = infra(clean_env(root, os.environ["PATH"]), *command, "--stack", stack, cwd=tmp_path)
        assert_nothing_ran(root, done, message)


def test_invalid_stack_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    stack_file = root / "stacks" / "Pulumi.local.yaml"
    stack_file.write_text(stack_file.read_text() + "  micro-infra:helmRelease: false\n")
    done = infra(clean_env(root, os.environ["PATH"]), "up", "--stack", "local", "--yes", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "config.micro-infra:helmRelease" in done.stderr and "Traceback" not in done.stderr
    assert not (root / ".pulumi-state").exists()


def test_missing_pulumi_exits_2_with_how_to_get_it(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = clean_env(root, str(empty), MICRO_INFRA_CACHE=str(tmp_path / "no-cache"), PULUMI_CONFIG_PASSPHRASE="x")
    done = infra(env, "preview", "--stack", "local", cwd=tmp_path)
    assert_nothing_ran(
        root,
        done,
        "pulumi CLI not found: install pulumi 3.272.0 or a newer 3.x (curl -fsSL https://get.pulumi.com | sh)",
    )


def test_destroy_needs_yes(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    done = infra(clean_env(root, os.environ["PATH"]), "destroy", "--stack", "local", cwd=tmp_path)
    assert_nothing_ran(root, done, "pass --yes to confirm")


def test_local_passphrase_defaults_to_empty_and_cloud_stacks_never_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import engine
    from infra.config.loader import load_stack

    for key in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(key, raising=False)
    env, notes = engine.passphrase_env(load_stack("local", ROOT))
    assert env == {"PULUMI_CONFIG_PASSPHRASE": ""} and "empty passphrase" in notes[0]
    with pytest.raises(engine.SetupError, match="PULUMI_CONFIG_PASSPHRASE"):
        engine.passphrase_env(load_stack("staging", ROOT))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")  # set, even empty, is the user's choice
    assert engine.passphrase_env(load_stack("staging", ROOT)) == ({}, [])


# --- infra local -----------------------------------------------------------------------------------


def test_kind_config_maps_the_edge_node_ports_and_the_registry() -> None:
    from infra.cli import local

    config = yaml.safe_load(local.kind_config())
    assert (config["kind"], config["apiVersion"], config["name"]) == ("Cluster", "kind.x-k8s.io/v1alpha4", "micro")
    (node,) = config["nodes"]
    assert node["role"] == "control-plane"
    assert "@sha256:" in node["image"] and node["image"].startswith("kindest/node:v1.34."), node["image"]
    mappings = {(m["containerPort"], m["hostPort"]) for m in node["extraPortMappings"]}
    assert mappings == {(KIND_HTTP_NODE_PORT, 80), (KIND_HTTPS_NODE_PORT, 443)}
    (patch,) = config["containerdConfigPatches"]
    assert 'config_path = "/etc/containerd/certs.d"' in patch
    assert (local.REGISTRY_HOST, local.REGISTRY_MIRROR) == ("localhost:5001", "http://kind-registry:5000")
    assert local.hosts_toml() == '[host."http://kind-registry:5000"]\n'
    assert ":" in local.REGISTRY_IMAGE and not local.REGISTRY_IMAGE.endswith((":latest", ":2"))


def test_kind_config_template_is_strict() -> None:
    from infra.workflows import render

    with pytest.raises(jinja2.UndefinedError):
        render("kind-config.yaml.j2", name="micro")


def test_local_up_without_kind_or_docker_names_both(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    for command in (["up"], ["down", "--yes"]):
        done = infra(clean_env(root, str(empty)), "local", *command, cwd=tmp_path)
        assert_nothing_ran(root, done, "kind not found on PATH: install kind")
        assert "docker not found on PATH: install Docker Engine" in done.stderr


def test_local_down_needs_yes(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    done = infra(clean_env(root, os.environ["PATH"]), "local", "down", cwd=tmp_path)
    assert_nothing_ran(root, done, "local down deletes the kind cluster micro and everything in it: pass --yes")


def test_local_up_with_a_docker_that_reaches_no_engine(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine")
    if subprocess.run([docker, "info"], capture_output=True, timeout=60, check=False).returncode == 0:
        pytest.skip("a Docker engine is reachable here, so the no-engine path cannot be shown")
    root = copy_project(tmp_path)
    only_docker = tmp_path / "only-docker"
    only_docker.mkdir()
    (only_docker / "docker").symlink_to(docker)
    done = infra(clean_env(root, str(only_docker)), "local", "up", cwd=tmp_path)
    assert_nothing_ran(root, done, "docker cannot reach a Docker engine")
    assert "kind not found on PATH" in done.stderr


# --- the real engine ---------------------------------------------------------------------------------


@pytest.mark.engine
def test_staging_without_azure_credentials_exits_2(tmp_path: Path, engine_bin: Path) -> None:
    root = copy_project(tmp_path)
    env = clean_env(root, str(engine_bin), PULUMI_CONFIG_PASSPHRASE="x")  # PATH: pulumi, and no az
    done = infra(env, "preview", "--stack", "staging", cwd=tmp_path)
    assert_nothing_ran(root, done, "stack staging deploys to Azure, and no Azure credentials were found")
    for hint in ("ARM_CLIENT_ID", "ARM_SUBSCRIPTION_ID", "az login", "ARM_USE_OIDC=true"):
        assert hint in done.stderr, f"{hint} missing from:\n{done.stderr}"


@pytest.mark.engine
def test_staging_without_passphrase_exits_2(tmp_path: Path, engine_bin: Path) -> None:
    root = copy_project(tmp_path)
    env = clean_env(root, str(engine_bin), **FAKE_SERVICE_PRINCIPAL)
    done = infra(env, "preview", "--stack", "staging", cwd=tmp_path)
    assert_nothing_ran(root, done, "export PULUMI_CONFIG_PASSPHRASE=<passphrase>")
    unreadable = {**env, "PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "missing")}
    assert_nothing_ran(root, infra(unreadable, "preview", "--stack", "staging", cwd=tmp_path), "cannot be read")


@pytest.mark.engine
@pytest.mark.parametrize("stack", ["staging", "platform"])
def test_cloud_up_without_a_terminal_needs_yes_and_errors_are_json_under_json(
    tmp_path: Path, engine_bin: Path, stack: str
) -> None:
    root = copy_project(tmp_path)
    env = clean_env(root, str(engine_bin), PULUMI_CONFIG_PASSPHRASE="x", **FAKE_SERVICE_PRINCIPAL)
    message = f"up of stack {stack} (a cloud stack) asks before it changes anything: pass --yes, or use a terminal"
    assert_nothing_ran(root, infra(env, "up", "--stack", stack, cwd=tmp_path), message)
    done = infra(env, "up", "--stack", stack, "--json", cwd=tmp_path)
    assert_nothing_ran(root, done, message)
    assert json.loads(done.stdout) == {"error": {"message": message, "exitCode": 2}}


def _up_in_a_terminal(env: dict[str, str], answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`infra up` with a pseudo-terminal on stdin (so it asks), answering `answer`; stdout and stderr piped."""
    import pty

    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli.main", "up", *args],
            env=env,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(primary, f"{answer}\n".encode())
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        os.close(primary)
        os.close(secondary)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.engine
def test_up_previews_asks_and_passes_the_pulumi_flags_through(tmp_path: Path, engine_bin: Path) -> None:
    """The local stack in a terminal: a `no` changes nothing; a `yes` applies with --target and --message;
    --replace replaces; --policy-pack reaches the engine (a missing pack is the engine's error)."""
    workspace: Workspace = make_workspace(tmp_path, engine_bin)
    render_mode(workspace.root / "stacks" / "Pulumi.local.yaml", tmp_path / "rendered")
    env = {**workspace.env, "PATH": os.environ["PATH"]}
    provider = "urn:pulumi:local::micro-infra::pulumi:providers:kubernetes::kind"  # the stack is no parent type

    def resources() -> list[str]:
        exported = json.loads(workspace.pulumi("stack", "export", "--stack", "local").stdout)
        return [r["urn"] for r in exported["deployment"].get("resources") or []]

    declined = _up_in_a_terminal(env, "n", "--stack", "local")
    assert declined.returncode == 1, declined.stderr
    assert "Apply these changes to stack local? [y/N]" in declined.stderr and "would be created" in declined.stderr
    assert "up of stack local: not confirmed; nothing was changed" in declined.stderr
    assert resources() == [], "a declined up changed the state"

    args = ("--stack", "local", "--target", provider, "--message", "first: the provider only", "--json")
    accepted = _up_in_a_terminal(env, "y", *args)
    assert accepted.returncode == 0, accepted.stderr[-3000:]
    assert json.loads(accepted.stdout)["changeSummary"]["create"] == 2, "the stack and the targeted provider"
    assert sorted(resources()) == sorted(
        [provider, "urn:pulumi:local::micro-infra::pulumi:pulumi:Stack::micro-infra-local"]
    )
    from infra.cli.bootstrap import engine_urn
    from tests.conftest import stack_graph

    offline = next(r.urn for r in stack_graph("local").registrations if r.type == "pulumi:providers:kubernetes")
    assert engine_urn(offline) == provider, "bootstrap's `pulumi import --parent` lines name real URNs"
    history = json.loads(workspace.pulumi("stack", "history", "--stack", "local", "--json").stdout)
    assert history[0]["message"] == "first: the provider only"
    assert not list((tmp_path / "rendered").rglob("*.yaml")), "untargeted resources were created"

    replaced = infra(env, "up", "--stack", "local", "--yes", "--target", provider, "--replace", provider, "--json")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert json.loads(replaced.stdout)["changeSummary"]["replace"] == 1

    missing = tmp_path / "no-such-pack"
    failed = infra(env, "up", "--stack", "local", "--yes", "--policy-pack", str(missing), "--json")
    assert failed.returncode == 1 and str(missing) in failed.stderr, failed.stderr[-3000:]
    assert json.loads(failed.stdout)["error"]["exitCode"] == 1


def test_up_options_pass_through_as_the_automation_api_names_them() -> None:
    import inspect

    from pulumi.automation import Stack

    from infra.engine import UpOptions

    options = UpOptions(("urn:a",), ("urn:b",), True, True, ("/packs/p",), "why")
    kwargs = options.kwargs()
    assert kwargs == {
        "target": ["urn:a"],
        "replace": ["urn:b"],
        "refresh": True,
        "diff": True,
        "policy_packs": ["/packs/p"],
        "message": "why",
    }
    for command in (Stack.up, Stack.preview):
        assert set(kwargs) <= set(inspect.signature(command).parameters), command
    assert UpOptions().kwargs() == {}, "no flag: the engine's defaults"


def test_expect_no_changes_forgives_only_a_providers_fresh_credential() -> None:
    from infra.engine import CREDENTIAL_INPUTS, Step, unexpected_changes
    from tests.conftest import stack_graph

    provider = "pulumi:providers:kubernetes"
    token = Step("update", "urn:p::aks", provider, False, ("kubeconfig",))
    retarget = Step("update", "urn:p::aks", provider, False, ("kubeconfig", "clusterIdentifier"))
    same_key_elsewhere = Step("update", "urn:p::cfg", "kubernetes:core/v1:Secret", False, ("kubeconfig",))
    created = Step("create", "urn:p::ns", "kubernetes:core/v1:Namespace", False)
    quiet = [Step(op, "urn:p::x", provider, False) for op in ("same", "read", "refresh")]
    assert unexpected_changes((token, *quiet)) == ()
    assert unexpected_changes((token, retarget, same_key_elsewhere, created)) == (retarget, same_key_elsewhere, created)
    # The forgiven key is the one the cloud stacks' provider takes its fresh token in, beside the fixed cluster.
    (aks,) = [r for r in stack_graph("staging").registrations if r.type == provider]
    assert CREDENTIAL_INPUTS[provider] <= set(aks.inputs) and "clusterIdentifier" in aks.inputs


def test_backend_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import engine
    from infra.config.loader import load_stack

    staging, local = load_stack("staging", ROOT), load_stack("local", ROOT)
    monkeypatch.setenv("PULUMI_BACKEND_URL", "")
    with pytest.raises(engine.SetupError, match="PULUMI_BACKEND_URL is set but empty"):
        engine.backend_url(ROOT, local)
    monkeypatch.delenv("PULUMI_BACKEND_URL")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(engine.SetupError, match=r"stack staging runs in CI \(CI=true\) without PULUMI_BACKEND_URL"):
        engine.backend_url(ROOT, staging)
    assert engine.backend_url(ROOT, local).startswith("file://"), "kind stacks keep the local file backend in CI"
    monkeypatch.setenv("PULUMI_BACKEND_URL", "azblob://state?storage_account=acct")
    assert engine.backend_url(ROOT, staging) == "azblob://state?storage_account=acct"
