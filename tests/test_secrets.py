"""Secrets stay secret end to end: in stack files, plans, rendered manifests and the CLI's output.

A copy of the staging stack gets `secure:` values whose ciphertext is a marker this test controls; the plan
engine uses a secure value's ciphertext as the secret's value (engine.config_for_mocks), so wherever the marker
would leak, it shows. The kubeconfig (a Pulumi secret built from AKS credentials) is followed the same way,
through its `current-context:` line. Then every Kubernetes object of every plan is walked: no Secret value (and
nothing marked secret) may sit in a ConfigMap, an env `value` literal or an annotation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from infra.cli.main import app
from infra.config.loader import load_stack
from infra.guardrails import render as renderer
from infra.plan import report
from infra.plan.engine import Graph, run
from infra.program import program_for
from tests.conftest import ROOT, STACKS, stack_graph

PASSPHRASE = "MARKER-passphrase-4c1d9e"
MARKERS = (PASSPHRASE,)
KUBECONFIG = "current-context:"
"""Every kubeconfig the plan builds has this line; nothing else does."""
SECRET_NAMED = re.compile(r"password|passphrase|token|secret|key", re.IGNORECASE)
MASK = "[secret]"
_graphs: dict[bool, Graph] = {}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's inputs whose staging stack sets its secure value to a marker."""
    root = tmp_path_factory.mktemp("secrets")
    shutil.copytree(ROOT / "environments", root / "environments")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    path = root / "stacks" / "Pulumi.staging.yaml"
    data = yaml.safe_load(path.read_text())
    data["config"]["micro-infra:backupPassphrase"] = {"secure": PASSPHRASE}
    path.write_text(yaml.safe_dump(data))
    return root


def marked(root: Path, traceable: bool) -> Graph:
    """The marked staging stack, planned as `infra plan` does (or traceable, as check and render do)."""
    if traceable not in _graphs:
        stack = load_stack("staging", root)
        _graphs[traceable] = run(program_for(stack), "staging", stack.config, traceable=traceable)
    return _graphs[traceable]


def leaks(text: str) -> list[str]:
    return [marker for marker in (*MARKERS, KUBECONFIG) if marker in text]


@pytest.mark.parametrize("traceable", [False, True], ids=["plan", "traceable-plan"])
def test_the_plan_masks_every_secret_where_it_flows(root: Path, traceable: bool) -> None:
    graph = marked(root, traceable)
    document = json.dumps(report.preview_document(graph))
    assert not leaks(document), f"the plan JSON shows {leaks(document)}"
    carriers = {}
    for r in graph.registrations:
        raw = json.dumps(r.raw_inputs())
        found = [m for m in MARKERS if m in raw] + ([KUBECONFIG] if traceable and KUBECONFIG in raw else [])
        if found:
            carriers[r.name] = found
            assert MASK in json.dumps(r.inputs), f"{r.type} {r.name} carries {found} without [secret]"
    # The marker really flowed (else this test would prove nothing): into the Kubernetes Secret.
    assert {"staging-uksouth-cockroach-backup-passphrase"} <= set(carriers)
    if traceable:
        assert any(KUBECONFIG in found for found in carriers.values()), "the kubeconfig reached a provider"
    provider = next(r for r in graph.registrations if r.type == "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == MASK


def test_rendered_manifests_hold_no_secret(root: Path, tmp_path: Path) -> None:
    renderer.render(marked(root, True), tmp_path)
    for path in tmp_path.iterdir():
        assert not leaks(path.read_text()), f"{path.name} shows {leaks(path.read_text())}"
    secret = yaml.safe_load(next(tmp_path.glob("*-secret-cockroach-cockroach-backup-passphrase.yaml")).read_text())
    assert secret["stringData"] == {"passphrase": MASK}


def test_the_cli_prints_no_secret(root: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MICRO_INFRA_ROOT": str(root), "COLUMNS": "200"}
    command = [sys.executable, "-c", "from infra.cli.main import run; run()", "plan", "--stack", "staging", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert not leaks(done.stdout + done.stderr)
    assert json.loads(done.stdout)["stack"] == "staging"
    runner = CliRunner()
    for args in (
        ["check", "--stack", "staging", "--json"],
        ["render", "--stack", "staging", "--out", str(tmp_path / "out"), "--json"],
    ):
        result = runner.invoke(app, args, env={"MICRO_INFRA_ROOT": str(root)})
        assert result.exit_code == 0, result.output
        assert not leaks(result.stdout + result.stderr), f"infra {args[0]} printed {leaks(result.output)}"


@pytest.mark.parametrize("path", sorted((ROOT / "stacks").glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_committed_stack_files_hold_secrets_only_as_secure_values(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    for key, value in _named(data.get("config") or {}):
        if SECRET_NAMED.search(key.rsplit(":", 1)[-1]):
            assert isinstance(value, dict) and set(value) == {"secure"}, f"{path.name}: {key} must be a secure value"


def _named(config: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted key, value) of a stack's config, into structured values."""
    for key, value in config.items():
        name = f"{prefix}{key}"
        yield name, value
        if isinstance(value, dict) and set(value) != {"secure"}:
            yield from _named(value, name + ".")


def test_secret_named_keys_are_recognised() -> None:
    for key in ("micro-infra:backupPassphrase", "x:apiToken", "x:dbPassword"):
        assert SECRET_NAMED.search(key.rsplit(":", 1)[-1]), key
    assert not SECRET_NAMED.search("kubeContext")


@pytest.mark.parametrize("stack", [*STACKS, "staging-with-secrets"])
def test_no_secret_value_reaches_a_config_map_env_literal_or_annotation(stack: str, root: Path) -> None:
    graph = marked(root, True) if stack == "staging-with-secrets" else stack_graph(stack)
    objects = [r for r in graph.registrations if r.type.startswith("kubernetes:") and "helm.sh" not in r.type]
    secret_values = {
        value
        for r in objects
        if r.type == "kubernetes:core/v1:Secret"
        for field in ("stringData", "data")
        for value in (r.raw_inputs().get(field) or {}).values()
        if isinstance(value, str) and len(value) >= 8
    } | set(MARKERS if stack == "staging-with-secrets" else ())
    problems = []
    for r in objects:
        for where, shown, raw in _exposed(r.inputs, r.raw_inputs(), r.type):
            if shown == MASK or any(secret in str(raw) for secret in secret_values):
                problems.append(f"{r.type} {r.name}: {where} holds a secret")
    assert not problems, "\n".join(problems)
    if stack == "staging-with-secrets":
        assert secret_values >= set(MARKERS)


def _exposed(shown: Any, raw: Any, type_: str, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, masked value, raw value) of every ConfigMap value, env `value` and annotation below an object."""
    if type_ == "kubernetes:core/v1:ConfigMap" and not path:
        for field in ("data", "binaryData"):
            for key, value in (shown.get(field) or {}).items():
                yield f"{field}.{key}", value, (raw.get(field) or {}).get(key)
    if isinstance(shown, dict) and isinstance(raw, dict):
        for key, value in shown.items():
            here = f"{path}.{key}" if path else key
            if key == "annotations" and isinstance(value, dict):
                for name, annotation in value.items():
                    yield f"{here}.{name}", annotation, (raw.get(key) or {}).get(name)
            elif key == "env" and isinstance(value, list):
                for index, (item, raw_item) in enumerate(zip(value, raw.get(key) or [], strict=False)):
                    if isinstance(item, dict) and "value" in item:
                        yield f"{here}[{index}].value", item["value"], raw_item.get("value")
            else:
                yield from _exposed(value, raw.get(key), type_, here)
    elif isinstance(shown, list) and isinstance(raw, list):
        for index, (item, raw_item) in enumerate(zip(shown, raw, strict=False)):
            yield from _exposed(item, raw_item, type_, f"{path}[{index}]")


GENERATED = "generated-password-of-staging-backup-passphrase"
"""The traceable mocks' value for staging's RandomPassword result (infra/plan/computed.py)."""


def test_without_a_secure_value_the_passphrase_is_a_protected_random_password_planned_as_a_secret(
    tmp_path: Path,
) -> None:
    """The committed staging stack sets no passphrase: pulumi-random makes one, protected, and it flows as a
    secret into the Kubernetes Secret only; neither the plan nor the rendered manifests show it."""
    from components.generated_secrets import PASSPHRASE_LENGTH

    assert "micro-infra:backupPassphrase" not in load_stack("staging", ROOT).config
    for traceable in (False, True):
        graph = stack_graph("staging", traceable)
        (password,) = graph.of_type("random:index/randomPassword:RandomPassword")
        assert password.protect, "replacing it would make every existing backup unreadable"
        assert password.inputs["length"] == PASSPHRASE_LENGTH and password.inputs["special"] is False
        secret = graph.one("kubernetes:core/v1:Secret", "staging-uksouth-cockroach-backup-passphrase")
        assert secret.inputs["stringData"] == MASK, secret.inputs
        assert GENERATED not in json.dumps(report.preview_document(graph))
    carriers = {r.name for r in graph.registrations if GENERATED in json.dumps(r.raw_inputs())}
    assert carriers == {"staging-uksouth-cockroach-backup-passphrase"}, "it reaches the Secret, and nothing else"
    renderer.render(graph, tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if GENERATED in p.read_text()]


def test_a_secure_value_overrides_the_generated_passphrase(root: Path) -> None:
    graph = marked(root, True)
    assert graph.of_type("random:index/randomPassword:RandomPassword") == [], "the stack's own value wins"
    secret = graph.one("kubernetes:core/v1:Secret", "staging-uksouth-cockroach-backup-passphrase")
    assert PASSPHRASE in json.dumps(secret.raw_inputs()) and secret.inputs["stringData"] == MASK
