"""Shared fixtures: each stack's graph under mocks, built once per test session.

The graphs come from the real program with the real stack and environment files. They are
"traceable": computed values name the resource they came from (see infra/plan/computed.py),
so a test can prove what points at what.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.plan.engine import Graph, Registration, run

if TYPE_CHECKING:
    from tests.kube_plane import Plane

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("local", "parity", "staging", "platform")
_graphs: dict[tuple[str, bool], Graph] = {}


def stack_graph(stack: str, traceable: bool = True) -> Graph:
    """The graph of a committed stack (cached: the program is deterministic)."""
    from infra.config.loader import load_stack
    from infra.program import program_for

    key = (stack, traceable)
    if key not in _graphs:
        loaded = load_stack(stack, ROOT)
        _graphs[key] = run(program_for(loaded), stack, loaded.config, traceable=traceable)
    return _graphs[key]


def component_graph(build: Callable[[], Any], stack: str = "test") -> Graph:
    """Run `build` (which constructs one component) under traceable mocks."""
    return run(build, stack, {}, traceable=True)


@pytest.fixture(params=STACKS)
def any_stack(request: pytest.FixtureRequest) -> Graph:
    return stack_graph(request.param)


@pytest.fixture
def local() -> Graph:
    return stack_graph("local")


@pytest.fixture
def staging() -> Graph:
    return stack_graph("staging")


@pytest.fixture
def platform() -> Graph:
    return stack_graph("platform")


def k8s(graph: Graph, kind: str, name: str | None = None, namespace: str | None = None) -> list[Registration]:
    """Kubernetes objects of `kind` (e.g. "apps/v1:Deployment"), filtered by metadata name/namespace."""
    out = []
    for r in graph.registrations:
        if not r.type.startswith("kubernetes:") or not r.type.endswith(kind):
            continue
        meta = r.inputs.get("metadata", {})
        if name is not None and meta.get("name") != name:
            continue
        if namespace is not None and meta.get("namespace") != namespace:
            continue
        out.append(r)
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked `long` first (a stable sort): under `--dist loadfile --no-loadscope-reorder` (Makefile)
    each module is one worker's unit, taken in this order, and starting the longest chains first lets the other
    workers take everything else meanwhile (xdist's own order, most tests first, starts them last)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Engine step timings (engine_support.record) travel on the report, so xdist workers' reach the summary."""
    from tests.engine_support import TIMINGS

    report = yield
    if TIMINGS:  # a new list: the phases' reports share the item's
        report.user_properties = [*report.user_properties, *(("timing", line) for line in TIMINGS)]
        TIMINGS.clear()
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Counts that guardrail tests record with `record_property("summary", ...)` (fuzz cases, checkov results),
    and the engine step timings."""
    reports = [report for reports in terminalreporter.stats.values() for report in reports]
    for section, kind, phases in (
        ("guardrails", "summary", ("call",)),
        ("engine timing", "timing", ("setup", "call", "teardown")),
    ):
        lines = [
            value
            for report in reports
            if getattr(report, "when", None) in phases
            for name, value in report.user_properties
            if name == kind
        ]
        if lines:
            terminalreporter.section(section)
            for line in sorted(lines):
                terminalreporter.write_line(line)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of this checkout's code and data, committed once (the base revision of
    `infra diff` and upgrade tests)."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("infra", "components", "templates", "environments", "stacks"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "Pulumi.yaml", root)
    git = ["git", "-C", str(root), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "-c", "commit.gpgsign=false", "commit", "-qm", "base"], check=True)
    return root


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    """The real engine's bin directory (scripts/ensure-pulumi builds it once, then reuses its cache)."""
    from tests.engine_support import ensure_engine

    return ensure_engine()


@pytest.fixture(scope="session")
def kube_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    """A real Kubernetes API server on 127.0.0.1 (scripts/ensure-kube), started once per session, stopped by PID."""
    from tests.kube_plane import start_plane

    plane = start_plane(tmp_path_factory.mktemp("plane"))
    yield plane
    plane.stop()
