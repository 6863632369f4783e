"""`infra diff`, the plan differ and the PR comment: synthetic plans for the rules, one real run end to end."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cli.main import app
from infra.plan.report import preview_document
from infra.workflows.comment import MARKER, render_comment
from infra.workflows.plan_diff import affected_stacks, diff_documents
from tests.conftest import stack_graph

runner = CliRunner()


def _doc(stack: str, *resources: tuple[str, str, dict[str, Any], bool]) -> dict[str, Any]:
    """A preview document with (type, name, inputs, protect) resources, shaped like preview_document's."""
    steps = []
    for type_, name, inputs, protect in resources:
        urn = f"urn:pulumi:{stack}::micro-infra::{type_}::{name}"
        state = {"type": type_, "urn": urn, "protect": protect, "inputs": inputs}
        steps.append({"op": "create", "urn": urn, "newState": state})
    return {"stack": stack, "steps": steps, "changeSummary": {"create": len(steps)}}


def _deployment(image: str, selector: str = "api") -> dict[str, Any]:
    return {
        "metadata": {"name": "micro-api", "namespace": "server"},
        "spec": {
            "selector": {"matchLabels": {"app": selector}},
            "template": {"spec": {"containers": [{"name": "api", "image": image}]}},
        },
    }


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PIP = "azure-native:network:PublicIPAddress"
ZONE = "azure-native:dns:Zone"


# Creates, deletes, updates and replaces are told apart by URN and by the replace-on-change table.
def test_diff_classifies_every_kind_of_change() -> None:
    pip = {"publicIpAddressName": "pip-api", "location": "uksouth", "sku": {"name": "Standard"}, "tags": {"a": "1"}}
    base = _doc(
        "staging",
        (DEPLOYMENT, "api", _deployment("micro:1"), False),
        (DEPLOYMENT, "web", _deployment("micro:1", "web"), False),
        (PIP, "edge-api", pip, True),
        (ZONE, "m3o.dev", {"zoneName": "m3o.dev"}, True),
        ("kubernetes:core/v1:Service", "gone", {"metadata": {"name": "gone"}}, False),
    )
    head = _doc(
        "staging",
        (DEPLOYMENT, "api", _deployment("micro:2"), False),
        (DEPLOYMENT, "web", _deployment("micro:1", "web2"), False),
        (PIP, "edge-api", {**pip, "tags": {"a": "2"}}, True),
        (ZONE, "m3o.dev", {"zoneName": "m3o.dev"}, True),
        ("kubernetes:core/v1:Service", "new", {"metadata": {"name": "new"}}, False),
    )
    diff = diff_documents(base, head)
    ops = {c.name: c for c in diff.changes}
    assert diff.counts == {"create": 1, "update": 2, "replace": 1, "delete": 1}, diff.changes
    assert diff.unchanged == 1, "the DNS zone did not change"
    assert ops["api"].op == "update" and ops["api"].paths == ("spec.template.spec.containers[0].image",)
    assert ops["web"].op == "replace" and ops["web"].replace_paths == ("spec.selector.matchLabels.app",)
    assert ops["edge-api"].op == "update" and ops["edge-api"].protected, "tags change in place, but it is protected"
    assert [c.name for c in diff.protected] == ["edge-api"]
    assert ops["gone"].op == "delete" and ops["new"].op == "create"


@pytest.mark.parametrize(
    ("type_", "before", "after", "replaced"),
    [
        ("kubernetes:apps/v1:StatefulSet", {"spec": {"serviceName": "a"}}, {"spec": {"serviceName": "b"}}, True),
        (
            "kubernetes:apps/v1:StatefulSet",
            {"spec": {"volumeClaimTemplates": [{"size": "10Gi"}]}},
            {"spec": {"volumeClaimTemplates": [{"size": "12Gi"}]}},
            True,
        ),
        ("kubernetes:apps/v1:StatefulSet", {"spec": {"replicas": 3}}, {"spec": {"replicas": 5}}, False),
        ("kubernetes:batch/v1:Job", {"spec": {"template": {"x": 1}}}, {"spec": {"template": {"x": 2}}}, True),
        ("kubernetes:core/v1:Service", {"spec": {"clusterIP": "None"}}, {"spec": {}}, True),
        ("kubernetes:core/v1:ConfigMap", {"metadata": {"namespace": "a"}}, {"metadata": {"namespace": "b"}}, True),
        (PIP, {"sku": {"name": "Standard"}}, {"sku": {"name": "Basic"}}, True),
        (PIP, {"zones": ["1", "2", "3"]}, {"zones": ["1"]}, True),
        ("azure-native:storage:StorageAccount", {"accountName": "a"}, {"accountName": "b"}, True),
        ("azure-native:resources:ResourceGroup", {"location": "uksouth"}, {"location": "ukwest"}, True),
        (
            "azure-native:containerservice:ManagedCluster",
            {"kubernetesVersion": "1.33"},
            {"kubernetesVersion": "1.34"},
            False,
        ),
    ],
)
def test_replace_on_change_table(type_: str, before: dict, after: dict, replaced: bool) -> None:
    diff = diff_documents(_doc("s", (type_, "r", before, False)), _doc("s", (type_, "r", after, False)))
    assert [c.op for c in diff.changes] == ["replace" if replaced else "update"], f"{type_}: {before} → {after}"


# A stack missing on one side is all creates or all deletes, and says so.
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def _statefulset(size: str, replicas: int = 1, claims: bool = True) -> dict[str, Any]:
    template = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": size}}}}
    return {
        "metadata": {"name": "etcd", "namespace": "etcd"},
        "spec": {"replicas": replicas, **({"volumeClaimTemplates": [template]} if claims else {})},
    }


@pytest.mark.parametrize(
    ("before", "after", "op", "data"),
    [
        (_statefulset("1Gi"), _statefulset("2Gi"), "replace", True),
        (_statefulset("1Gi"), _statefulset("1Gi", replicas=3), "update", False),
        (
            _statefulset("1Gi", claims=False),
            {**_statefulset("1Gi", claims=False), "spec": {"serviceName": "x"}},
            "replace",
            False,
        ),
        (_statefulset("1Gi"), None, "delete", True),
    ],
)
def test_replaces_and_deletes_of_objects_with_volumes_hold_data(
    before: dict[str, Any], after: dict[str, Any] | None, op: str, data: bool
) -> None:
    base = _doc("parity", (STATEFULSET, "etcd", before, False))
    head = _doc("parity", *([(STATEFULSET, "etcd", after, False)] if after else []))
    (change,) = diff_documents(base, head).changes
    assert (change.op, change.holds_data) == (op, data), change
    assert ("🗄️" in render_comment([diff_documents(base, head)], "t")) == data


def test_new_and_removed_stacks() -> None:
    doc = _doc("staging-westeurope", (DEPLOYMENT, "api", _deployment("micro:1"), False), (ZONE, "z", {}, True))
    created = diff_documents(None, doc, "staging-westeurope")
    removed = diff_documents(doc, None, "staging-westeurope")
    assert created.counts["create"] == 2 and "new" in created.notes[0]
    assert removed.counts["delete"] == 2 and [c.name for c in removed.protected] == ["z"]


# The comment for a change to one Deployment stays short: the reviewer sees the change, not a wall.
def test_one_deployment_comment_is_short() -> None:
    base = preview_document(stack_graph("staging"))
    head = copy.deepcopy(base)
    step = next(s for s in head["steps"] if s["newState"]["type"] == DEPLOYMENT)
    step["newState"]["inputs"]["spec"]["replicas"] = 5
    untouched = [diff_documents(base, base, "staging-westeurope"), diff_documents(base, base, "platform")]
    text = render_comment([diff_documents(base, head, "staging"), *untouched], "Plan diff")
    lines = text.splitlines()
    assert len(lines) <= 30, text
    assert lines[0] == MARKER, "CI finds its comment by the marker on the first line"
    assert "| `staging` | 0 | 1 | 0 | 0 |" in text and "`spec.replicas`" in text
    assert "WARNING" not in text, "a Deployment is not protected"


# Protected changes lead the comment; long lists are cut and counted.
def test_comment_flags_protected_changes_first_and_truncates() -> None:
    many = [(DEPLOYMENT, f"d{i}", _deployment("micro:1"), False) for i in range(40)]
    base = _doc("platform", (ZONE, "m3o.com", {"zoneName": "m3o.com"}, True), *many)
    head = _doc("platform", *[(t, n, _deployment("micro:2"), p) for t, n, _, p in many])
    text = render_comment([diff_documents(base, head)], "Plan diff")
    warning, table = text.index("[!WARNING]"), text.index("| stack |")
    assert warning < table, "protected changes come before everything else"
    assert "**delete** `azure-native:dns:Zone` `m3o.com` in `platform`" in text
    assert "**Updates (40)**" in text and "… and 25 more" in text
    assert len(text.splitlines()) < 40
    assert "(`infra diff --json` lists them all)" in text
    preview = render_comment(
        [diff_documents(base, head)], "Preview", full_listing="infra preview --stack platform --json"
    )
    assert "(`infra preview --stack platform --json` lists them all)" in preview and "infra diff" not in preview


def test_affected_stacks() -> None:
    envs = {"local": "local", "staging": "staging", "staging-westeurope": "staging", "platform": "platform"}
    assert affected_stacks(["environments/staging.yaml"], envs) == ["staging", "staging-westeurope"]
    assert affected_stacks(["stacks/Pulumi.platform.yaml", "README.md", "tests/test_x.py"], envs) == ["platform"]
    assert affected_stacks([".github/workflows/drift.yml", "environments/schema.json"], envs) == []
    assert affected_stacks(["components/azure/naming.py"], envs) == list(envs), "code affects every stack"


# End to end: an etcd disk resize is a replace of a protected StatefulSet, and only staging is planned.
def test_diff_against_a_revision(repo: Path, tmp_path: Path) -> None:
    env = repo / "environments" / "staging.yaml"
    text = env.read_text()
    assert "  etcd:\n    members: 3\n    storage_gb: 10\n" in text
    env.write_text(
        text.replace("  etcd:\n    members: 3\n    storage_gb: 10\n", "  etcd:\n    members: 3\n    storage_gb: 12\n")
    )
    comment = tmp_path / "comment.md"
    result = runner.invoke(
        app, ["diff", "--base", "HEAD", "--comment", str(comment), "--json"], env={"MICRO_INFRA_ROOT": str(repo)}
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [s["stack"] for s in document["stacks"]] == ["staging"], "only staging names environments/staging.yaml"
    changes = document["stacks"][0]["changes"]
    assert [(c["op"], c["name"]) for c in changes] == [("replace", "staging-uksouth-etcd-statefulset")], changes
    assert changes[0]["replacePaths"] == ["spec.volumeClaimTemplates[0].spec.resources.requests.storage"]
    assert changes[0]["holdsData"] is True and document["stacks"][0]["holdsData"] == [changes[0]["urn"]]
    body = comment.read_text()
    assert body.startswith(MARKER) and "⚠️ **replace** `kubernetes:apps/v1:StatefulSet`" in body
    assert "🗄️ **1 replace or delete of objects that hold data.**" in body and "never reaches the existing" in body
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(worktrees.splitlines()) == 1, f"the base worktree was not removed: {worktrees}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-ref"], "--base: 'no-such-ref' is not a commit of"),
        (["--base", "HEAD", "--stack", "nope"], "--stack: no stack 'nope' in the working tree or at HEAD"),
    ],
)
def test_diff_bad_input(repo: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["diff", *args], env={"MICRO_INFRA_ROOT": str(repo)})
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_diff_outside_git(tmp_path: Path) -> None:
    result = runner.invoke(app, ["diff", "--base", "HEAD"], env={"MICRO_INFRA_ROOT": str(tmp_path)})
    assert result.exit_code == 2 and "is not inside a git checkout" in result.stderr, result.output


def test_help_names_every_flag() -> None:
    result = runner.invoke(app, ["diff", "--help"])
    assert result.exit_code == 0
    for flag in ("--base", "--stack", "--comment", "--json", "--affected", "pulumi preview"):
        assert flag in result.stdout, flag
