"""Bad input, generated: every environment or stack file either loads or fails with a clean ConfigError.

The strategies and the contract live in tests/fuzzing.py (shared with `make fuzz`, which runs 20,000 random
cases). Here they run derandomized (a fixed sequence, so CI sees the same cases every run), in memory:
validation is milliseconds, so the suite affords over 2,000 cases. A few accepted environments are planned,
and a fixed set of cases goes through `infra plan` as a subprocess: exit 2, no traceback, nothing on stdout,
no hang. The counts by outcome print under "guardrails" at the end of the run.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from infra.config.loader import load_stack
from tests import fuzzing
from tests.conftest import ROOT

IN_SUITE = {"environment": 1200, "stack": 300, "raw": 400, "yaml": 200}
"""Derandomized cases per target: 2,100 in all, about 15 s of CPU."""
PLANNED = 2
"""Accepted mutated environments that are also planned (a plan costs seconds)."""


def _run(target: str, record_property: Any) -> fuzzing.Tally:
    tally = fuzzing.run({target: IN_SUITE[target]}, derandomize=True)[target]
    record_property("summary", f"fuzz {tally.summary()}")
    assert not tally.failures, "\n".join(tally.failures)
    assert tally.total == IN_SUITE[target], "hypothesis ran fewer cases than asked"
    return tally


def test_mutated_environments_load_or_fail_cleanly(tmp_path: Path, record_property: Any) -> None:
    tally = _run("environment", record_property)
    assert tally.counts["rejected"] > IN_SUITE["environment"] // 2
    assert tally.counts["loaded"] >= PLANNED, "some mutations are still valid, and those must plan"
    plan_accepted(tally.accepted[:PLANNED], tmp_path)


def plan_accepted(accepted: list[tuple[str, dict[str, Any]]], root: Path) -> None:
    """Accepted mutations must also plan: the model admitted them, so the program must build them."""
    from infra.plan.engine import run
    from infra.program import program_for

    for folder in ("environments", "stacks"):
        shutil.copytree(ROOT / folder, root / folder)
    for name, data in accepted:
        (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
        stack = load_stack(name, root)
        graph = run(program_for(stack), stack.name, stack.config)
        assert len(graph.registrations) > 50, stack.name
        shutil.copyfile(ROOT / "environments" / f"{name}.yaml", root / "environments" / f"{name}.yaml")


def test_mutated_stack_files_load_or_fail_cleanly(record_property: Any) -> None:
    tally = _run("stack", record_property)
    assert tally.counts["rejected"] > IN_SUITE["stack"] // 2 and tally.counts["loaded"] > 0


def test_raw_files_load_or_fail_cleanly(record_property: Any) -> None:
    tally = _run("raw", record_property)
    assert tally.counts["rejected"] > IN_SUITE["raw"] // 2


def test_spliced_yaml_loads_or_fails_cleanly(record_property: Any) -> None:
    tally = _run("yaml", record_property)
    assert tally.counts["rejected"] > IN_SUITE["yaml"] // 2


def test_the_contract_catches_what_it_must() -> None:
    """The outcome check itself: a crash, a multi-line problem and a problem naming no key are failures."""
    from infra.config.errors import ConfigError, Problem

    def raises(exc: Exception) -> Callable[[], None]:
        def action() -> None:
            raise exc

        return action

    display = "environments/staging.yaml"
    assert fuzzing.outcome(display, lambda: None) == ("loaded", "")
    assert fuzzing.outcome(display, raises(ConfigError([Problem(display, "a.b", "bad")])))[0] == "rejected"
    assert fuzzing.outcome(display, raises(KeyError("x")))[0] == "crashed"
    assert fuzzing.outcome(display, raises(ConfigError([Problem(display, "", "bad")])))[0] == "bad-message"
    assert fuzzing.outcome(display, raises(ConfigError([Problem("elsewhere", "a", "bad")])))[0] == "bad-message"


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
    base = fuzzing.committed("environments/staging.yaml")
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
    data = content if isinstance(content, bytes) else yaml.safe_dump(content, allow_unicode=True).encode()
    (root / target).write_bytes(data)
    return root
