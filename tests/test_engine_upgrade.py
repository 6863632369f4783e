"""Upgrades on a real API server: a base revision's objects, then the working tree's, by server-side apply.

`infra diff` calls a change a replace when Kubernetes forbids it as an update (plan_diff.REPLACE_ON_CHANGE).
Here the API server itself is asked: the parity stack of a committed revision is applied to the test plane
(tests/kube_plane.py), the working tree grows the etcd volume, and every changed object is applied again.
The objects the API server refuses are exactly the ones `infra diff` reports as replaced, and the diff
warns that they hold data. Then every custom object that any stack declares (local, parity, staging,
platform) is checked by a server-side dry run against the CRDs controller-gen generated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.guardrails.render import is_object, manifest
from tests.conftest import ROOT
from tests.kube_plane import Plane

pytestmark = [pytest.mark.engine, pytest.mark.long]

CUSTOM_GROUPS = ("cert-manager.io/", "gateway.networking.k8s.io/", "gateway.envoyproxy.io/")
ETCD_SIZE = "  etcd:\n    members: 1\n    storage_gb: 1\n"


def objects(stack: str, root: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object the offline plan of `stack` declares directly, from the files under `root`."""
    from infra.config.loader import load_stack
    from infra.plan.engine import run
    from infra.program import program_for

    loaded = load_stack(stack, root)
    graph = run(program_for(loaded), stack, loaded.config, traceable=True)
    return [manifest(r) for r in graph.registrations if is_object(r)]


def key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


@pytest.fixture(scope="module")
def namespaces(kube_plane: Plane) -> Iterator[set[str]]:
    """Namespaces the dry runs need (a namespaced object is checked only in an existing one); deleted at the end
    and waited for, so that whatever runs next on this worker's plane finds none of them terminating."""
    made: set[str] = set()
    yield made
    if made:
        kube_plane.kubectl("delete", "namespace", *sorted(made), "--ignore-not-found", "--timeout", "120s")


@pytest.mark.parametrize("stack", ["local", "parity", "staging", "platform"])
def test_every_custom_object_passes_its_crd_schema(stack: str, kube_plane: Plane, namespaces: set[str]) -> None:
    """A server-side dry run of each custom object against the generated CRDs (schemas, enums, CEL rules)."""
    custom = [o for o in objects(stack, ROOT) if o["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert custom, f"{stack} declares no custom resources"
    needed = {o["metadata"]["namespace"] for o in custom if "namespace" in o["metadata"]}
    missing = sorted(n for n in needed - namespaces if kube_plane.kubectl("get", "ns", n, check=False).returncode)
    if missing:
        kube_plane.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in missing])
        namespaces.update(missing)
    done = kube_plane.apply(custom, "--dry-run=server", check=False)
    assert done.returncode == 0, f"{stack}: the API server refused custom objects:\n{done.stderr[-4000:]}"
    broken = {**custom[0], "spec": {**custom[0]["spec"], "notAField": True}}
    refused = kube_plane.apply([broken], "--dry-run=server", check=False)
    assert refused.returncode != 0 and "notAField" in refused.stderr, "the CRD schema checks nothing"


def test_a_forbidden_update_is_the_replace_infra_diff_reports(repo: Path, kube_plane: Plane) -> None:
    from infra.cli.main import app

    base = objects("parity", repo)
    env = repo / "environments" / "parity.yaml"
    assert ETCD_SIZE in env.read_text()
    env.write_text(env.read_text().replace(ETCD_SIZE, ETCD_SIZE.replace("storage_gb: 1", "storage_gb: 2")))
    head = objects("parity", repo)

    result = CliRunner().invoke(
        app, ["diff", "--base", "HEAD", "--stack", "parity", "--json"], env={"MICRO_INFRA_ROOT": str(repo)}
    )
    assert result.exit_code == 0, result.output
    (stack,) = json.loads(result.stdout)["stacks"]
    replaced = {c["urn"].rsplit("::", 1)[-1]: c for c in stack["changes"] if c["op"] == "replace"}
    assert {c["op"] for c in stack["changes"]} == {"replace"}, stack["changes"]

    kube_plane.apply(base)
    try:
        before = {key(o): o for o in base}
        changed = [o for o in head if before.get(key(o)) != o]
        assert changed, "growing the etcd volume changed no object"
        refused = {}
        for obj in changed:
            done = kube_plane.apply([obj], check=False)
            if done.returncode != 0:
                refused[key(obj)] = done.stderr
        assert [k[0] for k in refused] == ["StatefulSet"] and len(refused) == len(changed) == len(replaced), (
            f"refused by the API server: {sorted(refused)}; infra diff replaces: {sorted(replaced)}"
        )
        (message,) = refused.values()
        assert "updates to statefulset spec for fields other than" in message and "are forbidden" in message
        (change,) = replaced.values()
        assert change["type"] == "kubernetes:apps/v1:StatefulSet" and change["holdsData"] is True, change
        assert change["replacePaths"] == ["spec.volumeClaimTemplates[0].spec.resources.requests.storage"]
    finally:
        kube_plane.kubectl("delete", "-f", "-", "--ignore-not-found", "--timeout", "120s", stdin=_yaml(base))


def _yaml(docs: list[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False)
