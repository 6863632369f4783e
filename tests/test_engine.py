"""The real Pulumi engine (built by scripts/ensure-pulumi) on copies of the stacks, in render mode.

Every run happens in a temporary copy of Pulumi.yaml, stacks/ and environments/ (with `infra/` and
`.venv` linked back to this checkout), against a file backend in a temporary directory: nothing is
written into the repository. The local stack renders its manifests to a directory instead of
applying them (no cluster here) and leaves out Helm releases (no chart repositories here). What this
proves that the mock engine cannot: the real CLI reads the stack files and decrypts their secrets,
the real program runs under the real language host, the real Kubernetes provider accepts every
object and writes manifests that pass strict schema validation, the objects it writes are exactly
the ones the offline plan declares, and outputs flow across stacks through a StackReference. The
`infra` CLI drives it as a user would: `preview` with its pull-request comment, `outputs`, a second
preview under `--expect-no-changes` (and a moved provider that fails it), and the engine's own
failures (a wrong passphrase, a refresh without a cluster) as exit 1 with the engine's message.
Not covered: Helm releases (need chart repositories) and the Azure stacks beyond their config
(need the azure-native plugin and an Azure account).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.plan.engine import Registration
from tests.conftest import ROOT
from tests.engine_support import Workspace, make_workspace, record, render_mode
from tests.k8s_schema import validate
from tests.test_engine_cli import infra

pytestmark = [pytest.mark.engine, pytest.mark.long]

CUSTOM_GROUPS = {"cert-manager.io", "gateway.networking.k8s.io", "gateway.envoyproxy.io"}
"""API groups of the CustomResources the local stack declares: no built-in schema, checked by shape."""


@pytest.fixture
def engine_env(tmp_path: Path, engine_bin: Path) -> Iterator[Workspace]:
    workspace = make_workspace(tmp_path, engine_bin)
    with workspace.active():
        yield workspace


# --- (a), (b): stack files through the real CLI --------------------------------------------------------


def test_every_committed_stack_reads_through_the_real_cli(engine_env: Workspace) -> None:
    for stack in ("local", "parity", "staging", "platform"):
        engine_env.pulumi("stack", "init", stack)
        config = json.loads(engine_env.pulumi("config", "--stack", stack, "--json").stdout)
        committed = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
        shown = {key: entry["value"] for key, entry in config.items()}
        assert shown == {k: str(v) for k, v in committed.items()}, f"stack {stack}: the CLI reads {shown}"


def test_secret_config_round_trips_and_is_stored_encrypted(engine_env: Workspace) -> None:
    from infra.config.loader import load_stack

    secret = "correct-horse-battery-staple"
    engine_env.pulumi("stack", "init", "local")
    engine_env.pulumi("config", "set", "--stack", "local", "--secret", "micro-infra:backupPassphrase", secret)
    got = engine_env.pulumi("config", "get", "--stack", "local", "micro-infra:backupPassphrase").stdout.strip()
    assert got == secret
    text = (engine_env.root / "stacks" / "Pulumi.local.yaml").read_text()
    stored = yaml.safe_load(text)["config"]["micro-infra:backupPassphrase"]
    assert set(stored) == {"secure"}, f"backupPassphrase stored as {stored!r}"
    assert stored["secure"].startswith("v1:") and secret not in text
    assert load_stack("local", engine_env.root).settings.backup_passphrase == stored, "the loader accepts the file"


# --- (c), (d): the local stack in render mode, end to end ----------------------------------------------
# Both kind stacks are also applied for real to an API server in test_engine_plane.py, where `infra up`
# and `infra destroy` run; here `infra preview`, `infra outputs` and engine.py's up and destroy do.


@dataclass(frozen=True)
class Deployed:
    stack: str
    workspace: Workspace
    env: dict[str, str]
    """The workspace's env with the caller's PATH: `infra` finds the CLI itself (the ensure-pulumi cache)."""
    preview: dict[str, Any]
    """`infra preview --json` of the new stack."""
    comment: str
    """The pull-request comment that preview wrote (--comment)."""
    summary: dict[str, int]
    """Change summary of the Automation API `up`."""
    manifests: list[dict[str, Any]]
    """Every YAML document the provider wrote, read right after `up`."""
    outputs: dict[str, Any]
    """Stack outputs through the Automation API, right after `up`."""


@pytest.fixture(scope="module")
def deployed(engine_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from infra import engine

    base = tmp_path_factory.mktemp("engine")
    workspace = make_workspace(base, engine_bin)
    rendered = base / "rendered"
    render_mode(workspace.root / "stacks" / "Pulumi.local.yaml", rendered)
    env = {**workspace.env, "PATH": os.environ["PATH"]}
    comment = base / "comment.md"
    with workspace.active():
        workspace.init_stack("local")

        started = time.monotonic()
        preview = _json(infra(env, "preview", "--stack", "local", "--json", "--comment", str(comment), cwd=base))
        record("local preview (infra CLI)", time.monotonic() - started)

        stack = engine.select_stack("local")
        started = time.monotonic()
        result = stack.up()
        record("local up (infra/engine.py)", time.monotonic() - started)
        manifests = [
            doc for path in sorted(rendered.rglob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc
        ]
        outputs = engine.outputs_json(stack.outputs())
        yield Deployed("local", workspace, env, preview, comment.read_text(), result.summary, manifests, outputs)


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
    return dict(json.loads(done.stdout))


def _planned(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> list[Registration]:
    """The offline plan of the workspace's files (the render-mode stack file)."""
    from infra.cli.plan import plan_stacks

    monkeypatch.setenv("MICRO_INFRA_ROOT", str(deployed.workspace.root))
    (graph,) = plan_stacks([deployed.stack])
    return graph.registrations


def test_the_first_preview_is_the_offline_plan_and_up_agrees(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = len(_planned(deployed, monkeypatch))
    summary = {op: n for op, n in deployed.preview["changeSummary"].items() if n}
    assert summary == {"create": planned}, f"real preview {summary}, offline plan {planned}"
    assert len(deployed.preview["changes"]) == planned and {c["op"] for c in deployed.preview["changes"]} == {"create"}
    assert {op: n for op, n in deployed.summary.items() if n} == summary, f"up {deployed.summary} vs preview"
    text = deployed.comment
    assert text.startswith("<!-- micro-infra:plan-diff -->") and "### Preview: stack `local`" in text, text[:500]
    assert f"**Creates ({planned - 1})**" in text, "the comment lists every create but the stack itself"


def test_rendered_manifests_pass_strict_schema_validation(deployed: Deployed) -> None:
    assert deployed.manifests, "the provider wrote no manifests"
    for manifest in deployed.manifests:
        meta = manifest.get("metadata", {})
        what = f"{manifest.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
        group = manifest["apiVersion"].rpartition("/")[0]
        if group in CUSTOM_GROUPS:
            assert manifest["apiVersion"].count("/") == 1 and manifest["kind"], what
            assert isinstance(manifest.get("spec"), dict), f"{what}: a CustomResource without spec"
        else:
            validate(manifest)  # raises with the failing path


def test_rendered_objects_are_exactly_the_offline_plan(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mock engine and the real engine see the same program: same objects, same names and namespaces."""
    planned = {
        _key(r.type.split(":")[1].removeprefix("core/"), r.type.split(":")[2], r.inputs["metadata"])
        for r in _planned(deployed, monkeypatch)
        if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh/")
    }
    rendered = [_key(m["apiVersion"], m["kind"], m["metadata"]) for m in deployed.manifests]
    assert len(rendered) == len(set(rendered)), "the provider wrote an object twice"
    assert set(rendered) == planned, (
        f"only rendered: {sorted(set(rendered) - planned)}; only planned: {sorted(planned - set(rendered))}"
    )


def _key(api_version: str, kind: str, metadata: dict[str, Any]) -> tuple[str, str, str, str]:
    return api_version, kind, metadata.get("namespace") or "", metadata["name"]


def test_outputs_after_up(deployed: Deployed) -> None:
    from infra.config.loader import load_environment

    env = load_environment(ROOT / "environments" / f"{deployed.stack}.yaml")
    assert deployed.outputs["environment"] == deployed.stack
    assert deployed.outputs["hosts"] == env.dns.hosts.model_dump()
    assert deployed.outputs["release"]["micro"]["tag"] == env.release.micro.tag
    shown = _json(infra(deployed.env, "outputs", "--stack", deployed.stack, "--json"))
    assert shown == {"stack": deployed.stack, "outputs": deployed.outputs}


def test_a_second_preview_shows_no_changes_and_a_moved_provider_is_drift(deployed: Deployed) -> None:
    """--expect-no-changes passes with nothing changed; a provider input that is not a credential fails it."""
    env, root = deployed.env, deployed.workspace.root
    quiet = infra(env, "preview", "--stack", deployed.stack, "--json", "--expect-no-changes")
    again = _json(quiet)
    assert again["changeSummary"]["same"] == deployed.summary["create"] and again["changes"] == [], again
    stack_file = root / "stacks" / f"Pulumi.{deployed.stack}.yaml"
    committed = stack_file.read_text()
    render_mode(stack_file, root.parent / "elsewhere")
    try:
        drifted = infra(env, "preview", "--stack", deployed.stack, "--expect-no-changes")
    finally:
        stack_file.write_text(committed)
    assert drifted.returncode == 1, f"a changed provider must fail --expect-no-changes:\n{drifted.stderr}"
    assert "--expect-no-changes:" in drifted.stderr and "kind (pulumi:providers:kubernetes)" in drifted.stderr


def test_engine_failures_exit_1_with_the_engines_own_message(deployed: Deployed) -> None:
    """A wrong passphrase fails reading the config; refresh fails because render mode has no cluster to read."""
    wrong = infra({**deployed.env, "PULUMI_CONFIG_PASSPHRASE": "wrong"}, "preview", "--stack", deployed.stack)
    assert wrong.returncode == 1, f"a wrong passphrase must fail in the engine (exit 1):\n{wrong.stderr}"
    assert "incorrect passphrase" in wrong.stderr and "Traceback" not in wrong.stderr and "stdout:" not in wrong.stderr

    refresh = infra(deployed.env, "refresh", "--stack", deployed.stack)
    assert refresh.returncode == 1, f"refresh without a cluster must fail in the engine:\n{refresh.stderr}"
    assert "refresh of stack local failed:\nfailed to read resource state due to unreachable cluster" in refresh.stderr
    assert "Traceback" not in refresh.stderr


REFERENCING_PROGRAM = """\
import pulumi

local = pulumi.StackReference("organization/micro-infra/{stack}")
pulumi.export("environment", local.get_output("environment"))
"""


def test_stack_reference_then_destroy_both(deployed: Deployed) -> None:
    """A second stack reads the first's output; then both are destroyed down to no resources (runs last)."""
    from pulumi import automation as auto

    from infra import engine

    workspace = deployed.workspace
    ref_dir = workspace.root.parent / "referencing"
    ref_dir.mkdir()
    (ref_dir / "__main__.py").write_text(REFERENCING_PROGRAM.format(stack=deployed.stack))
    (ref_dir / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "micro-infra",
                "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(ROOT / ".venv")}},
            }
        )
    )
    with workspace.active():
        local = engine.select_stack(deployed.stack)
        options = local.prepared.options()
        options.work_dir = str(ref_dir)
        referencing = auto.create_stack("localref", work_dir=str(ref_dir), opts=options)
        started = time.monotonic()
        up = referencing.up()
        record("referencing stack up", time.monotonic() - started)
        assert up.outputs["environment"].value == deployed.stack, f"StackReference gave {up.outputs}"

        referencing.destroy()
        started = time.monotonic()
        result = local.destroy()
        record(f"{deployed.stack} destroy (infra/engine.py)", time.monotonic() - started)
        assert result.summary["delete"] == deployed.summary["create"]
        assert local.resource_count() == 0
        assert len(referencing.export_stack().deployment.get("resources") or []) == 0
        assert not list((workspace.root.parent / "rendered").rglob("*.yaml")), "destroy left rendered manifests"
    assert _json(infra(deployed.env, "outputs", "--stack", deployed.stack, "--json"))["outputs"] == {}
    assert not (workspace.root / ".pulumi-state").exists(), "PULUMI_BACKEND_URL must win over the default"
