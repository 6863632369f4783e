"""Environment and stack files that are not regular files: refused unopened, one line, exit 2, never a hang.

The FIFO cases run the CLI in a thread under a timeout: a regression would block on open(), so after the
timeout the test opens each FIFO's write end (which releases a blocked reader) and fails the case, instead
of hanging the suite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from infra.cli.main import app
from infra.config.errors import ConfigError
from infra.config.loader import MAX_BYTES, copy_inputs, load_environment, read_file, stack_names

from .conftest import ROOT

runner = CliRunner()
HANG = 30
"""Seconds after which a command counts as hung (a clean refusal takes milliseconds)."""


def _copy(root: Path) -> Path:
    for folder in ("environments", "stacks"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


def _message(action: object) -> str:
    with pytest.raises(ConfigError) as info:
        action()  # type: ignore[operator]
    assert len(info.value.problems) == 1
    return str(info.value)


def test_a_device_is_refused_before_it_is_read(tmp_path: Path) -> None:
    link = tmp_path / "staging.yaml"
    link.symlink_to("/dev/zero")
    started = time.monotonic()
    message = _message(lambda: load_environment(link, "environments/staging.yaml"))
    assert message == "environments/staging.yaml: is a character device, not a regular file"
    assert time.monotonic() - started < 1


def test_the_size_cap_holds_before_reading(tmp_path: Path) -> None:
    sparse = tmp_path / "staging.yaml"
    with sparse.open("wb") as handle:
        handle.truncate(8 * 1024**3)  # 8 GiB that take no disk: reading them would exhaust memory
    message = _message(lambda: read_file(sparse, "environments/staging.yaml"))
    assert message == f"environments/staging.yaml: is {8 * 1024**3} bytes; the limit is {MAX_BYTES}"


def test_directories_and_dangling_symlinks(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    assert _message(lambda: read_file(tmp_path / "dir.yaml", "d")) == "d: is a directory, not a regular file"
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    assert _message(lambda: read_file(tmp_path / "gone.yaml", "g")) == (
        f"g: is a dangling symlink (to {tmp_path / 'nowhere.yaml'})"
    )


def test_a_stacks_folder_that_cannot_be_listed(tmp_path: Path) -> None:
    (tmp_path / "stacks").symlink_to(tmp_path / "stacks")  # a loop: ELOOP, whoever runs the test
    assert _message(lambda: stack_names(tmp_path)) == "stacks/: cannot be listed (Too many levels of symbolic links)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_an_unreadable_stacks_folder(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "stacks").chmod(0)
    try:
        assert _message(lambda: stack_names(root)) == "stacks/: cannot be listed (Permission denied)"
    finally:
        (root / "stacks").chmod(0o755)


def _cases(tmp_path: Path) -> dict[str, tuple[Path, list[str], str]]:
    """label → (root, infra arguments, the one line expected on stderr)."""
    cases: dict[str, tuple[Path, list[str], str]] = {}

    def case(label: str, args: list[str], expected: str, *fifos: str, links: tuple[str, ...] = ()) -> None:
        root = _copy(tmp_path / label.replace(" ", "-"))
        for rel in fifos:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).unlink(missing_ok=True)
            os.mkfifo(root / rel)
        for rel in links:
            (root / rel).symlink_to(root / "nowhere")
        cases[label] = (root, args, expected)

    fifo = "is a FIFO, not a regular file"
    new = ["stack", "new", "--env", "staging", "--cloud", "azure", "--region", "westeurope", "--yes"]
    case(
        "plan env fifo",
        ["plan", "--stack", "staging"],
        f"environments/staging.yaml: {fifo}",
        "environments/staging.yaml",
    )
    case(
        "plan stack fifo", ["plan", "--stack", "local"], f"stacks/Pulumi.local.yaml: {fifo}", "stacks/Pulumi.local.yaml"
    )
    case("plan all fifo", ["plan", "--no-tree"], f"stacks/Pulumi.extra.yaml: {fifo}", "stacks/Pulumi.extra.yaml")
    case("list fifo", ["stack", "list"], f"stacks/Pulumi.extra.yaml: {fifo}", "stacks/Pulumi.extra.yaml")
    case(
        "promote env fifo",
        ["promote", "--from", "staging", "--to", "platform", "--dry-run"],
        f"environments/platform.yaml: {fifo}",
        "environments/platform.yaml",
    )
    case("new fifo", new, f"stacks/Pulumi.extra.yaml: {fifo}", "stacks/Pulumi.extra.yaml")
    case("new env fifo", new, f"environments/parity.yaml: {fifo}", "environments/parity.yaml")
    dangling = f"is a dangling symlink (to {tmp_path / 'list-dangling' / 'nowhere'})"
    case("list dangling", ["stack", "list"], f"stacks/Pulumi.gone.yaml: {dangling}", links=("stacks/Pulumi.gone.yaml",))
    dangling = f"is a dangling symlink (to {tmp_path / 'new-dangling' / 'nowhere'})"
    case("new dangling", new, f"stacks/Pulumi.gone.yaml: {dangling}", links=("stacks/Pulumi.gone.yaml",))
    return cases


def _guarded(args: list[str], root: Path) -> Result | None:
    """`infra <args>` on `root` in a thread; None when it is still running after HANG seconds (then released)."""
    done: list[Result] = []
    thread = threading.Thread(
        target=lambda: done.append(runner.invoke(app, args, env={"MICRO_INFRA_ROOT": str(root)})), daemon=True
    )
    thread.start()
    thread.join(HANG)
    if thread.is_alive():
        for fifo in [p for p in root.rglob("*") if p.is_fifo()]:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a blocked open() for reading returns
        thread.join(HANG)
        return None
    return done[0]


def test_fifos_and_dangling_symlinks_through_the_cli(tmp_path: Path) -> None:
    failures = []
    for label, (root, args, expected) in _cases(tmp_path).items():
        result = _guarded(args, root)
        if result is None:
            failures.append(f"{label}: hung")
        elif result.exit_code != 2 or result.stdout or result.stderr.strip() != expected:
            failures.append(f"{label}: exit {result.exit_code}, stdout {result.stdout[:100]!r}, {result.stderr!r}")
    assert not failures, "\n".join(failures)


def test_a_fifo_elsewhere_under_stacks_is_left_alone(tmp_path: Path) -> None:
    """stack new and promote copy only the files they read: a FIFO in a subfolder neither hangs nor breaks them."""
    root = _copy(tmp_path / "root")
    (root / "stacks" / "archive").mkdir()
    os.mkfifo(root / "stacks" / "archive" / "pipe")
    copy_inputs(root, tmp_path / "copy")
    copied = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file())
    expected = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert copied == sorted([*expected, *(str(p.relative_to(ROOT)) for p in (ROOT / "environments").glob("*.yaml"))])
