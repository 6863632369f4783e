"""`infra render`: every directly declared Kubernetes object as one YAML file, valid and clean under checkov.

Built-in kinds are validated strictly against the Kubernetes 1.34 JSON schema (kubernetes-validate). Custom
resources (cert-manager, Gateway API, Envoy Gateway) have no schema available offline: for them the test checks
apiVersion, kind, metadata and spec structurally, and a new custom group fails until it is listed here. checkov
(from scripts/ensure-tool-venvs) scans each render with every check; checkov-skips.yaml is the only skip list.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import pulumi
import pytest
import yaml
from pulumi_kubernetes.core.v1 import Secret
from typer.testing import CliRunner

from infra.cli.main import app
from infra.guardrails import render as renderer
from tests.conftest import STACKS, component_graph, stack_graph
from tests.k8s_schema import VERSION

CUSTOM_GROUPS = {"cert-manager.io", "gateway.networking.k8s.io", "gateway.envoyproxy.io"}
"""API groups of custom resources: structural checks only (their CRD schemas are not available offline)."""
_scans: list[renderer.CheckovResult] = []


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each committed stack rendered once, into <tmp>/<stack>."""
    root = tmp_path_factory.mktemp("render")
    for stack in STACKS:
        renderer.render(stack_graph(stack), root / stack)
    return {stack: root / stack for stack in STACKS}


def scan(rendered: dict[str, Path]) -> renderer.CheckovResult:
    """checkov over all three renders at once (one process start), cached for the module."""
    if not renderer.checkov_binary().exists():
        pytest.skip("checkov venv missing: scripts/ensure-tool-venvs checkov")
    if not _scans:
        _scans.append(renderer.run_checkov(rendered[STACKS[0]].parent))
    return _scans[0]


def manifests(directory: Path) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(directory.glob("*.yaml")) if p.name != renderer.INDEX}


@pytest.mark.parametrize("stack", STACKS)
def test_every_declared_object_gets_one_file_and_helm_is_indexed(stack: str, rendered: dict[str, Path]) -> None:
    graph = stack_graph(stack)
    declared = [r for r in graph.registrations if renderer.is_object(r)]
    files = manifests(rendered[stack])
    assert len(files) == len(declared) > 20
    index = yaml.safe_load((rendered[stack] / renderer.INDEX).read_text())
    assert [o["urn"] for o in index["objects"]] == [r.urn for r in declared]
    width = len(next(iter(files)).split("-", 1)[0])
    for number, (name, obj) in enumerate(files.items(), start=1):
        meta = obj["metadata"]
        expected = f"{number:0{width}d}-{obj['kind']}-{meta.get('namespace', 'cluster')}-{meta['name']}.yaml".lower()
        assert name == expected, "files are <NN>-<kind>-<namespace>-<name>.yaml in plan order"
    charts = sorted(entry["chart"].rsplit("/", 1)[-1] for entry in index["helm"])
    datastores = [] if stack == "local" else ["cockroachdb"]  # local is zero-dependency: no NATS, no CockroachDB
    expected = sorted(
        ["cert-manager", "gateway-crds-helm", "gateway-helm", *datastores, *(["nats"] if datastores else [])]
    )
    assert charts == expected, charts
    assert all(entry["version"] for entry in index["helm"]), "every indexed chart names its version"
    assert not any(f["kind"] in ("Release", "Chart") for f in files.values()), "Helm objects exist only at deploy time"


@pytest.mark.parametrize("stack", STACKS)
def test_built_in_kinds_are_schema_valid_and_custom_resources_well_formed(
    stack: str, rendered: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # kubernetes-validate re-reads its 1 MB definitions file on every call; the schemas never change.
    monkeypatch.setattr(kv_utils, "schema_contents", functools.cache(kv_utils.schema_contents))
    problems = []
    for name, obj in manifests(rendered[stack]).items():
        group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
        meta = obj.get("metadata") or {}
        if not meta.get("name") or meta.get("labels", {}).get("app.kubernetes.io/managed-by") != "pulumi":
            problems.append(f"{name}: metadata.name and the managed-by label are required")
        if group in CUSTOM_GROUPS:
            if not isinstance(obj.get("spec"), dict) or not obj["apiVersion"].endswith(("/v1", "/v1alpha1")):
                problems.append(f"{name}: a custom resource needs a versioned apiVersion and a spec mapping")
            continue
        try:
            kubernetes_validate.validate(obj, VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name}: {obj['apiVersion']} {obj['kind']} is neither built in nor in CUSTOM_GROUPS")
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{name}: {exc.message} at {'.'.join(map(str, exc.path))}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing_unskipped(stack: str, rendered: dict[str, Path], record_property) -> None:
    result = scan(rendered)
    mine = {
        kind: [f for f in findings if f["file"].startswith(f"{stack}/")]
        for kind, findings in (("passed", result.passed), ("skipped", result.skipped), ("failed", result.failed))
    }
    counts = {kind: len(findings) for kind, findings in mine.items()}
    record_property(
        "summary", f"checkov {stack}: {counts['passed']} passed, {counts['skipped']} skipped, {counts['failed']} failed"
    )
    # local is one micro server pod and the edge; the datastore stacks carry every workload.
    assert counts["passed"] > (50 if stack == "local" else 1000), counts
    assert not mine["failed"], "\n".join(
        f"{f['check_id']} {f['name']}: {f['resource']} ({f['file']})" for f in mine["failed"]
    )


def test_every_skip_has_a_reason_and_still_waives_a_finding(rendered: dict[str, Path]) -> None:
    """A skip that no longer waives anything is dead weight: remove it from checkov-skips.yaml."""
    skips = renderer.checkov_skips()
    assert {entry["id"] for entry in skips} == {finding["check_id"] for finding in scan(rendered).skipped}
    assert len(skips) <= 5, "keep skips few: fix the component when the finding is right"


def test_a_secret_stays_masked_in_its_manifest(tmp_path: Path) -> None:
    def build() -> None:
        Secret(
            "passphrase",
            metadata={"name": "backup", "namespace": "cockroach", "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
            string_data={"passphrase": pulumi.Output.secret("plaintext-that-must-not-leak")},
        )

    result = renderer.render(component_graph(build), tmp_path)
    (written,) = [tmp_path / o["file"] for o in result.objects]
    text = written.read_text()
    assert "plaintext-that-must-not-leak" not in text
    assert yaml.safe_load(text)["stringData"] == {"passphrase": "[secret]"}
    kubernetes_validate.validate(yaml.safe_load(text), VERSION, strict=True)


def test_infra_render_writes_a_stack_and_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "local"
    result = CliRunner().invoke(app, ["render", "--stack", "local", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    index = json.loads(result.stdout)
    assert len(index["objects"]) == len(list(out.glob("[0-9]*.yaml"))) > 20
    again = CliRunner().invoke(app, ["render", "--stack", "local", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    (out / "notes.txt").write_text("mine")
    stale = out / "999-configmap-x-stale.yaml"
    stale.write_text("kind: ConfigMap\n")
    forced = CliRunner().invoke(app, ["render", "--stack", "local", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "notes.txt").read_text() == "mine", "--force replaces an earlier render's files only"
    assert not stale.exists(), "an earlier render's files are replaced, not left to be scanned"


def test_infra_render_rejects_bad_input(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert CliRunner().invoke(app, ["render", "--stack", "local", "--out", str(a_file)]).exit_code == 2
    assert CliRunner().invoke(app, ["render", "--stack", "nope", "--out", str(tmp_path / "x")]).exit_code == 2
