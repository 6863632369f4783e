"""Bad input, generated: every environment or stack file either loads or fails with a clean ConfigError.

Hypothesis mutates the committed files (wrong types, unknown keys, injection-like strings, huge values, deep
nesting, unicode tricks, deleted keys) and also feeds raw text (anchors and alias bombs, empty and binary
files, invalid UTF-8, oversized files). Every case must end in a successful load or in a ConfigError whose every
line names the file, and a key path unless the whole file is at fault. A few accepted cases are planned; a fixed
set of cases goes through `infra plan` as a subprocess: exit 2, no traceback, nothing on stdout, no hang.
Derandomized (fixed seed), so CI sees the same cases every run; the counts are reported in the test summary.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.config.errors import ConfigError
from infra.config.loader import MAX_BYTES, Stack, load_environment, load_stack
from tests.conftest import ROOT

EXAMPLES = 200
"""Per mutation test (environments, stack files)."""
RAW_EXAMPLES = 150
"""Raw files: some (deep nesting, oversized) cost a parse each."""
LOAD_SECONDS = 20.0
"""Upper bound for one load (~1 s at worst on an idle machine): nothing a user writes may make validation hang."""
PLANNED = 2
"""Accepted mutated environments that are also planned (a plan costs seconds)."""
FILE_LEVEL = re.compile(
    r"file not found|cannot be read|bytes; the limit is|is not UTF-8 text|is binary|line \d+, column \d+|"
    r"is not valid YAML|is empty|expected a mapping at the top level|no such stack|not a stack name"
)
"""Problems that concern the whole file, so they name no key path."""
ENVIRONMENT = re.compile(r"^environments/[a-z][a-z0-9]{1,11}\.yaml$")
"""A stack file names its environment; a problem there is reported under the environment's file."""
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

INJECTIONS = ["; rm -rf /", "$(id)", "`id`", "../../etc/passwd", "{{ 7*7 }}", "${HOME}", "a\nb: c", "x\x00y", "%s%n"]
# Homoglyphs (Cyrillic a, fullwidth m, Roman numeral M), right-to-left override, emoji, byte order mark.
UNICODE = [
    "\u0430pi.m3o.dev",
    "api.m3o.dev\u202e",
    "\u202eved.o3m",
    "\U0001f4a5.m3o.dev",
    "\uff4d3o.dev",
    "\u216fmicro",
    "\ufeffstaging",
]
HUGE = [10**40, -(10**40), 1e308, float("inf"), float("nan"), 2**63, "x" * 20_000]


def deep(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(INJECTIONS + UNICODE + HUGE),
    st.builds(deep, st.integers(min_value=5, max_value=200)),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
BAD_KEYS = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(INJECTIONS + UNICODE), st.integers())


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into `data` (mapping keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += paths(value, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with one to three mutations at random key paths: replace, delete, add an unknown key."""
    data = copy.deepcopy(base)
    numbers = [path for path in paths(data) if type(_at(data, path)) is int]
    if numbers and draw(st.integers(min_value=0, max_value=9)) == 0:
        # One count or size one off: often still valid, so a share of the cases load (and a few are planned).
        path = draw(st.sampled_from(numbers))
        _parent(data, path)[path[-1]] += draw(st.sampled_from([-1, 1]))
        return data
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = paths(data)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["replace", "replace", "delete", "unknown-key"]))
        if action == "replace":
            parent[path[-1]] = draw(BAD_VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(BAD_KEYS)] = draw(BAD_VALUES)
    return data


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _at(data: Any, path: tuple) -> Any:
    return _parent(data, path)[path[-1]]


def raw_text() -> st.SearchStrategy[bytes]:
    """Files no dump of a mapping produces."""
    bomb = "a: &a [x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    return st.one_of(
        st.sampled_from(
            [
                b"",
                b"\n\n# only a comment\n",
                b"---\n...\n",
                b"\x00\x01\x02binary",
                b"\xff\xfe\xfd not utf-8",
                bomb.encode(),
                b"name: &n staging\nother: *n\n",
                b"[" * 1000,
                b"{" * 1000 + b"}" * 1000,
                b"- just\n- a\n- list\n",
                b"just a string",
                b"42",
                b"name: staging\nname: twice\n",
                b"? [complex, key]\n: value\n",
                b"name: !!python/object/apply:os.system ['id']\n",
                b'key: "unterminated\n',
                b"\t name: tabs\n",
                b"a" * (MAX_BYTES + 1),
            ]
        ),
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


class Outcome:
    """What one case ended in, checked against the contract."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts

    def load(self, display: str, action: Callable[[], Any]) -> Any:
        """Run `action`; a ConfigError must name `display` (or, for a stack, the environment it names) per line."""
        started = time.monotonic()
        try:
            loaded = action()
        except ConfigError as exc:
            self.counts["rejected"] += 1
            assert exc.problems, "a ConfigError lists at least one problem"
            lines = str(exc).split("\n")
            assert len(lines) == len(exc.problems), f"a problem spans several lines: {str(exc)!r}"
            for line, problem in zip(lines, exc.problems, strict=True):
                assert problem.file == display or ENVIRONMENT.match(problem.file), f"{line!r} names no file at fault"
                assert line.startswith(f"{problem.file}: "), f"{line!r} does not start with the file"
                assert problem.path or FILE_LEVEL.search(problem.message), f"{line!r} names no key path"
            loaded = None
        else:
            self.counts["loaded"] += 1
        assert time.monotonic() - started < LOAD_SECONDS, f"loading {display} took too long"
        return loaded


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else yaml.safe_dump(data, allow_unicode=True).encode())


@pytest.fixture(scope="module")
def workspace() -> Any:
    """A copy of environments/ and stacks/ to mutate (MICRO_INFRA_ROOT-style root)."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "environments", root / "environments")
        shutil.copytree(ROOT / "stacks", root / "stacks")
        yield root


def restore(root: Path) -> None:
    """Put back the files cases write (copying two files is far cheaper than two folders)."""
    for name in ("local", "parity", "staging", "platform"):
        for path in (f"environments/{name}.yaml", f"stacks/Pulumi.{name}.yaml"):
            shutil.copyfile(ROOT / path, root / path)


def committed(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


def test_mutated_environments_load_or_fail_cleanly(workspace: Path, record_property: Any) -> None:
    counts: Counter[str] = Counter()
    outcome = Outcome(counts)
    accepted: list[Stack] = []
    bases = {name: committed(f"environments/{name}.yaml") for name in ("local", "parity", "staging", "platform")}

    @SETTINGS
    @given(name=st.sampled_from(sorted(bases)), data=st.data())
    def case(name: str, data: st.DataObject) -> None:
        restore(workspace)
        mutation = data.draw(mutated(bases[name]))
        display = f"environments/{name}.yaml"
        write(workspace / display, mutation)
        env = outcome.load(display, lambda: load_environment(workspace / display, display))
        if env is not None and len(accepted) < PLANNED and mutation != bases[name]:
            accepted.append(load_stack(name, workspace))

    case()
    planned = plan_accepted(accepted)
    record_property(
        "summary",
        f"fuzz environments: {sum(counts.values())} cases, {counts['loaded']} loaded, {counts['rejected']} rejected "
        f"cleanly, {planned} accepted cases planned",
    )
    assert counts["rejected"] > EXAMPLES // 2


def plan_accepted(stacks: list[Stack]) -> int:
    """Accepted mutations must also plan: the model admitted them, so the program must build them."""
    from infra.plan.engine import run
    from infra.program import program_for

    for stack in stacks:
        graph = run(program_for(stack), stack.name, stack.config)
        assert len(graph.registrations) > 50, stack.name
    return len(stacks)


def test_mutated_stack_files_load_or_fail_cleanly(workspace: Path, record_property: Any) -> None:
    counts: Counter[str] = Counter()
    outcome = Outcome(counts)
    bases = {name: committed(f"stacks/Pulumi.{name}.yaml") for name in ("local", "parity", "staging", "platform")}

    @SETTINGS
    @given(name=st.sampled_from(sorted(bases)), data=st.data())
    def case(name: str, data: st.DataObject) -> None:
        restore(workspace)
        mutation = data.draw(mutated(bases[name]))
        display = f"stacks/Pulumi.{name}.yaml"
        write(workspace / display, mutation)
        outcome.load(display, lambda: load_stack(name, workspace))

    case()
    record_property(
        "summary",
        f"fuzz stack files: {sum(counts.values())} cases, {counts['loaded']} loaded, "
        f"{counts['rejected']} rejected cleanly",
    )
    assert counts["rejected"] > EXAMPLES // 2


def test_raw_files_load_or_fail_cleanly(workspace: Path, record_property: Any) -> None:
    counts: Counter[str] = Counter()
    outcome = Outcome(counts)

    @settings(SETTINGS, max_examples=RAW_EXAMPLES)
    @given(content=raw_text(), target=st.sampled_from(["environments/staging.yaml", "stacks/Pulumi.staging.yaml"]))
    def case(content: bytes, target: str) -> None:
        restore(workspace)
        write(workspace / target, content)
        if target.startswith("environments/"):
            outcome.load(target, lambda: load_environment(workspace / target, target))
        else:
            outcome.load(target, lambda: load_stack("staging", workspace))

    case()
    record_property(
        "summary",
        f"fuzz raw files: {sum(counts.values())} cases, {counts['loaded']} loaded, "
        f"{counts['rejected']} rejected cleanly",
    )
    assert counts["rejected"] > RAW_EXAMPLES // 2


# --- through the CLI: exit 2, no traceback, no partial output, no hang -------------------------------

CLI_CASES: dict[str, tuple[str, bytes]] = {
    "empty environment": ("environments/staging.yaml", b""),
    "binary environment": ("environments/staging.yaml", b"\x00\x01binary"),
    "invalid utf-8": ("environments/staging.yaml", b"name: \xff\xfe\n"),
    "alias bomb": ("environments/staging.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"),
    "deep nesting": ("environments/staging.yaml", b"[" * 1000),
    "python tag": ("environments/staging.yaml", b"name: !!python/object/apply:os.system ['id']\n"),
    "stack unknown key": ("stacks/Pulumi.staging.yaml", b"config:\n  micro-infra:environment: staging\n  evil: 1\n"),
    "stack path traversal": ("stacks/Pulumi.staging.yaml", b"config:\n  micro-infra:environment: ../../etc/passwd\n"),
    "stack shell injection": ("stacks/Pulumi.staging.yaml", b"config:\n  micro-infra:environment: '$(id); rm -rf /'\n"),
    "plaintext passphrase": (
        "stacks/Pulumi.staging.yaml",
        b"config:\n  micro-infra:environment: staging\n  micro-infra:backupPassphrase: hunter2\n",
    ),
    "stack newline key": ("stacks/Pulumi.staging.yaml", b'config:\n  micro-infra:environment: staging\n  "a\\nb": 1\n'),
}
ENV_EDITS: dict[str, Callable[[dict], Any]] = {
    "host injection": lambda d: d["dns"]["hosts"].update(api="api.m3o.dev; rm -rf /"),
    "homoglyph host": lambda d: d["dns"]["hosts"].update(web="w\u0435b.m3o.dev"),
    "rtl override": lambda d: d.update(name="stag\u202eing"),
    "huge member count": lambda d: d["datastores"]["etcd"].update(members=10**40),
}


def test_bad_input_through_the_cli_exits_2_cleanly(tmp_path: Path, record_property: Any) -> None:
    cases: dict[str, Path] = {}
    base = committed("environments/staging.yaml")
    for label, (target, content) in CLI_CASES.items():
        cases[label] = _root(tmp_path / f"case{len(cases)}", target, content)
    for label, edit in ENV_EDITS.items():
        data = copy.deepcopy(base)
        edit(data)
        cases[label] = _root(tmp_path / f"case{len(cases)}", "environments/staging.yaml", data)
    infra = [sys.executable, "-c", "from infra.cli.main import run; run()"]
    running = {
        label: subprocess.Popen(
            [*infra, "plan", "--stack", "staging", "--no-tree"],
            env={**os.environ, "MICRO_INFRA_ROOT": str(root), "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for label, root in cases.items()
    }
    failures = []
    for label, process in running.items():
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            failures.append(f"{label}: hung")
            continue
        err = stderr.decode()
        if process.returncode != 2 or stdout or "Traceback" in err or not err.strip():
            failures.append(f"{label}: exit {process.returncode}, stdout {stdout[:200]!r}, stderr {err[-400:]!r}")
        elif not all(
            line.startswith(("environments/staging.yaml: ", "stacks/Pulumi.staging.yaml: "))
            for line in err.splitlines()
        ):
            failures.append(f"{label}: a line names no file: {err!r}")
    record_property("summary", f"fuzz CLI: {len(running)} `infra plan` subprocesses, {len(failures)} failures")
    assert not failures, "\n".join(failures)


def _root(root: Path, target: str, content: Any) -> Path:
    shutil.copytree(ROOT / "environments", root / "environments")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    write(root / target, content)
    return root
