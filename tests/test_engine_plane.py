"""The real engine against a real Kubernetes API server (tests/kube_plane.py): up, no-change preview, destroy.

Both local stacks (`local`, the zero-dependency micro server, and `parity`, micro on etcd with NATS and
CockroachDB) are applied for real with Helm releases off (no chart repository here): every object the
program declares directly, its custom resources checked by the CRDs that controller-gen generated from the
upstream Go types (cert-manager, Gateway API, Envoy Gateway), Pod Security admission on, Pods Running on a
kwok node, claims bound through the `standard` StorageClass. Each stack goes through both front doors:
`local` is applied and destroyed by the `infra` CLI and previewed through infra/engine.py, `parity` the
other way round. What this catches that rendering cannot: objects the API server refuses (schemas, CEL rules,
admission), custom resources without a CRD, claims without a StorageClass, and resources that never settle.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.guardrails.render import is_object, manifest
from tests.engine_support import Workspace, make_workspace, record
from tests.kube_plane import CONTEXT, Plane
from tests.test_engine_cli import infra

pytestmark = [pytest.mark.engine, pytest.mark.long]


def plane_mode(stack_file: Path) -> None:
    """Point a local stack file at the test plane's context, without Helm (the charts cannot be fetched here)."""
    data = yaml.safe_load(stack_file.read_text())
    data["config"]["micro-infra:kubeContext"] = CONTEXT
    data["config"]["micro-infra:helmReleases"] = False
    stack_file.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass(frozen=True)
class Applied:
    stack: str
    workspace: Workspace
    cli: bool
    """True: up and destroy through the `infra` CLI, preview through infra/engine.py; False: the other way."""
    summary: dict[str, int]
    objects: list[dict[str, Any]]
    """Every Kubernetes object the offline plan declares directly, as manifests."""


def _planned(stack: str, root: Path) -> tuple[int, list[dict[str, Any]]]:
    """(resource count, object manifests) of the offline plan of `stack` from the files under `root`."""
    from infra.config.loader import load_stack
    from infra.plan.engine import run
    from infra.program import program_for

    loaded = load_stack(stack, root)
    graph = run(program_for(loaded), stack, loaded.config, traceable=True)
    return len(graph.registrations), [manifest(r) for r in graph.registrations if is_object(r)]


@pytest.fixture(scope="module", params=["local", "parity"])
def applied(
    request: pytest.FixtureRequest, engine_bin: Path, kube_plane: Plane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Applied]:
    from infra import engine

    name = request.param
    cli = name == "local"
    base = tmp_path_factory.mktemp(f"plane-{name}")
    made = make_workspace(base, engine_bin)
    workspace = Workspace(made.root, {**made.env, **kube_plane.env})
    plane_mode(workspace.root / "stacks" / f"Pulumi.{name}.yaml")
    count, objects = _planned(name, workspace.root)
    with workspace.active():
        workspace.init_stack(name)
        started = time.monotonic()
        if cli:
            done = infra({**workspace.env, "PATH": os.environ["PATH"]}, "up", "--stack", name, "--yes", "--json")
            assert done.returncode == 0, f"infra up --stack {name} failed:\n{done.stderr[-4000:]}"
            summary = json.loads(done.stdout)["changeSummary"]
        else:
            summary = engine.select_stack(name).up().summary
        record(
            f"{name} up on the API server ({'infra CLI' if cli else 'infra/engine.py'})",
            time.monotonic() - started,
        )
        summary = _nonzero(summary)
        assert summary == {"create": count}, f"up of a new {name} stack: {summary}, the plan has {count} resources"
        yield Applied(name, workspace, cli, summary, objects)


def _nonzero(summary: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in summary.items() if n}


def _live(plane: Plane, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live objects of `objects` (found by kind, namespace and name); missing ones are left out."""
    text = yaml.safe_dump_all(objects)
    done = plane.kubectl("get", "-f", "-", "-o", "json", "--ignore-not-found", stdin=text)
    if not done.stdout.strip():
        return []
    document = json.loads(done.stdout)
    return list(document.get("items", [document]))


def test_up_creates_every_object_the_plan_declares(applied: Applied, kube_plane: Plane) -> None:
    live = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for o in _live(kube_plane, applied.objects)
    }
    planned = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in applied.objects}
    assert planned - live == set(), f"planned but not in the cluster: {sorted(planned - live)}"
    kinds = {o["kind"] for o in applied.objects}
    assert {"Certificate", "ClusterIssuer", "Gateway", "GatewayClass", "EnvoyProxy"} <= kinds, kinds


def test_every_pod_runs_and_every_claim_is_bound(applied: Applied, kube_plane: Plane) -> None:
    """Pod Security admitted every pod template; kwok runs them; the StorageClass binds every claim."""
    namespaces = {o["metadata"]["name"] for o in applied.objects if o["kind"] == "Namespace"}
    pods = [p for p in kube_plane.get("pods", "-A")["items"] if p["metadata"]["namespace"] in namespaces]
    assert pods, f"{applied.stack}: no pods in {sorted(namespaces)}"
    assert [p["metadata"]["name"] for p in pods if p["status"].get("phase") != "Running"] == []
    claims = [c for c in kube_plane.get("pvc", "-A")["items"] if c["metadata"]["namespace"] in namespaces]
    assert claims, f"{applied.stack} declares volumes, but no claim exists"
    assert {
        c["metadata"]["name"]: c["status"].get("phase") for c in claims if c["status"].get("phase") != "Bound"
    } == {}


def test_a_second_preview_shows_no_changes(applied: Applied) -> None:
    from infra import engine

    if applied.cli:
        with applied.workspace.active():
            summary = engine.select_stack(applied.stack).preview().summary
    else:
        done = infra(
            {**applied.workspace.env, "PATH": os.environ["PATH"]}, "preview", "--stack", applied.stack, "--json"
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)["changeSummary"]
    assert _nonzero(summary) == {"same": applied.summary["create"]}, f"a second preview of {applied.stack}: {summary}"


def test_destroy_leaves_nothing_behind(applied: Applied, kube_plane: Plane) -> None:
    """Runs last for each stack: every object is gone, and so are the claims StatefulSets made and their volumes."""
    from infra import engine

    started = time.monotonic()
    if applied.cli:
        done = infra(
            {**applied.workspace.env, "PATH": os.environ["PATH"]}, "destroy", "--stack", applied.stack, "--yes"
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "delete" in done.stdout and str(applied.summary["create"]) in done.stdout, done.stdout
    else:
        with applied.workspace.active():
            stack = engine.select_stack(applied.stack)
            assert _nonzero(stack.destroy().summary) == {"delete": applied.summary["create"]}
            assert stack.resource_count() == 0
    record(f"{applied.stack} destroy on the API server", time.monotonic() - started)
    assert _live(kube_plane, applied.objects) == []
    namespaces = {o["metadata"]["name"] for o in applied.objects if o["kind"] == "Namespace"}
    left = [
        c["metadata"]["name"] for c in kube_plane.get("pvc", "-A")["items"] if c["metadata"]["namespace"] in namespaces
    ]
    assert left == [], f"claims left behind: {left}"
    deadline = time.monotonic() + 30
    while kube_plane.get("pv")["items"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kube_plane.get("pv")["items"] == [], "volumes left behind"
