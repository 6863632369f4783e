"""What every command shares: the stack enum, error exits, JSON output."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from infra.config.errors import ConfigError

console = Console(stderr=True)
"""Progress and messages go to stderr, so stdout stays clean for --json and pipes."""
out = Console()
"""Results for people (tables, trees)."""

BAD_INPUT = 2

_json_errors = False
"""Set by a command run with --json: errors are then also a JSON document on stdout."""


def json_errors(enabled: bool) -> None:
    """Under --json, fail() also writes {"error": {"message", "exitCode"}} to stdout, for machines."""
    global _json_errors
    _json_errors = enabled


class StackName(StrEnum):
    local = "local"
    parity = "parity"
    staging = "staging"
    platform = "platform"


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """One clear message on stderr, no traceback (and the same as JSON on stdout under --json)."""
    sys.stderr.write(message.rstrip() + "\n")
    if _json_errors:
        emit_json({"error": {"message": message.rstrip(), "exitCode": code}})
    raise typer.Exit(code)


def writable(path: Path, flag: str) -> None:
    """Fail before any work when `path` cannot be written (the write itself still reports its own error)."""
    if path.is_dir():
        fail(f"{flag}: {path} is a directory")
    if not path.parent.is_dir():
        fail(f"{flag}: {path.parent} is not a directory")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        fail(f"{flag}: cannot write {path} (permission denied)")


def fail_config(exc: ConfigError) -> NoReturn:
    fail(str(exc))


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def committed_stacks() -> list[str]:
    """Every stack with a file in stacks/, committed ones first."""
    from infra.config.loader import stack_names

    found = stack_names()
    order = [s.value for s in StackName]
    return [s for s in order if s in found] + [s for s in found if s not in order]
