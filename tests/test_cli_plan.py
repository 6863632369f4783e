"""`infra plan` as users run it: output shape, every stack, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.cli.main import app
from infra.plan import report

from .conftest import ROOT, stack_graph

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "plan" in result.output
    result = runner.invoke(app, ["plan", "--help"])
    assert "--stack" in result.output and "--json" in result.output


def test_plan_json_is_shaped_like_pulumi_preview() -> None:
    document = report.preview_document(stack_graph("staging", traceable=False))
    assert set(document) >= {"steps", "changeSummary"}
    assert document["changeSummary"] == {"create": len(document["steps"])}
    for step in document["steps"]:
        assert step["op"] == "create" and step["urn"] == step["newState"]["urn"]
        assert set(step["newState"]) >= {"type", "urn", "custom", "parent", "inputs", "protect"}
    by_type = {s["newState"]["type"]: s for s in document["steps"]}
    provider = by_type["pulumi:providers:kubernetes"]["newState"]
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    ip = by_type["azure-native:network:PublicIPAddress"]["newState"]
    assert ip["protect"] is True
    record = next(
        s["newState"]
        for s in document["steps"]
        if s["newState"]["type"] == "azure-native:dns:RecordSet" and s["newState"]["inputs"].get("recordType") == "A"
    )
    assert record["inputs"]["aRecords"] == [{"ipv4Address": "[unknown]"}], "an IP is not known before deployment"
    parents = {s["newState"]["parent"] for s in document["steps"]}
    assert parents <= {s["urn"] for s in document["steps"]} | {""}


def test_secure_config_is_planned_as_a_secret_without_a_passphrase(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "environments", root / "environments")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    marker = "v1:Zm9vYmFyLW5vdC1hLXJlYWwtY2lwaGVydGV4dA=="
    stack_file = root / "stacks" / "Pulumi.staging.yaml"
    stack_file.write_text(
        stack_file.read_text() + f"  micro-infra:backupPassphrase:\n    secure: {marker}\nencryptionsalt: v1:abc\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", "plan", "--stack", "staging", "--json"],
        env={**env, "MICRO_INFRA_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert marker not in result.stdout and marker not in result.stderr
    document = json.loads(result.stdout)
    secrets = [
        s
        for s in document["steps"]
        if s["newState"]["type"] == "kubernetes:core/v1:Secret" and "passphrase" in json.dumps(s["newState"]["inputs"])
    ]
    assert secrets, "the passphrase must reach a Kubernetes Secret"
    assert "[secret]" in json.dumps(secrets[0]["newState"]["inputs"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["plan", "--stack", "nope"],
            "stacks/Pulumi.nope.yaml: no such stack; known stacks: local, parity, platform, staging",
        ),
        (
            ["plan", "--stack", "Bad;rm -rf"],
            "--stack: 'Bad;rm -rf' is not a stack name such as staging or staging-westeurope",
        ),
    ],
)
def test_bad_stack_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr


def test_bad_environment_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "environments", root / "environments")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    path = root / "environments" / "platform.yaml"
    path.write_text(path.read_text().replace("members: 3", "members: 2", 1))
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", "plan"],
        env={**os.environ, "MICRO_INFRA_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == "", "nothing is planned when any stack is invalid"
    assert result.stderr.strip() == (
        "environments/platform.yaml: datastores.etcd.members: a cloud quorum needs an odd number of at least 3 (got 2)"
    )


def test_plan_prints_a_tree_and_counts_for_people() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli.main", "plan", "--stack", "local"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "micro-infra:kubernetes:Platform local" in result.stdout
    assert "micro-infra:kubernetes:MicroServer" in result.stdout
    graph = stack_graph("local", traceable=False)
    assert f"local: {len(graph.registrations)} resources" in result.stdout


def test_planning_relaxes_the_garbage_collector_only_while_it_runs() -> None:
    """The plan raises the GC threshold for its own allocations and restores the caller's, even on failure."""
    import gc

    from infra.plan.engine import run

    seen: list[tuple[int, int, int]] = []
    before = gc.get_threshold()
    run(lambda: seen.append(gc.get_threshold()), "gc")
    assert seen[0][0] > 10 * before[0]
    assert gc.get_threshold() == before

    def broken() -> None:
        raise RuntimeError("program failed")

    with pytest.raises(RuntimeError):
        run(broken, "gc")
    assert gc.get_threshold() == before


def test_the_console_script_flushes_everything_before_its_fast_exit() -> None:
    """`infra` skips the interpreter's teardown (os._exit); all output must be out before it does."""
    infra = str(Path(sys.executable).with_name("infra"))
    done = subprocess.run([infra, "plan", "--stack", "local", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["steps"]) == len(stack_graph("local").registrations)
    head = subprocess.run(
        f"'{infra}' plan --stack local --json | head -c 10", shell=True, capture_output=True, text=True
    )
    assert head.stdout == '{\n  "stack' and "Traceback" not in head.stderr, head.stderr
    bad = subprocess.run([infra, "plan", "--stack", "nosuch"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("stacks/Pulumi.nosuch.yaml: no such stack")
