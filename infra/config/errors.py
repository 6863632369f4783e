"""Configuration errors as a user reads them: file, key path, what was expected."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

_SEGMENT = r'(?:[A-Za-z0-9_][\w:-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])'
_REL = re.compile(rf"^({_SEGMENT}(?:\.?{_SEGMENT})*): (.*)$", re.S)
"""`path: message`, as the model's cross-field rules write it (key_path syntax)."""
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][\w:-]*$", re.ASCII)

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters, line separators and bidi overrides: user text that could forge or reorder output."""


def printable(text: object) -> str:
    """`text` on one line with control and bidi characters escaped (\\n, \\u202e), so one problem is one line."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        file, path, message = printable(self.file), printable(self.path), printable(self.message)
        return f"{file}: {path}: {message}" if path else f"{file}: {message}"


class ConfigError(Exception):
    """Every problem found in one input, reported together; the CLI exits 2 on it."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def key_path(parts: Iterable[object]) -> str:
    """`a.b[0].c`; a key that is not a plain word keeps its exact text in brackets: `services["a.b[0]"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part if isinstance(part, str) else str(part), ensure_ascii=False)}]"
    return out


def _in_data(loc: Iterable[str | int], data: Any) -> list[str | int]:
    """pydantic's location without the labels it adds for unions (`function-after[...]`): the parts that
    are keys or indices of the input. A key the user wrote is kept whatever characters it has."""
    kept: list[str | int] = []
    parts = list(loc)
    for i, part in enumerate(parts):
        found = (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        )
        if found:
            data = data[part]
        elif i < len(parts) - 1:
            continue  # not in the input: a schema label
        kept.append(part)
    return kept


def _expected(err: Any, unknown: str) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return unknown
    if "input" in err and kind not in ("value_error", "assertion_error") and not isinstance(err["input"], dict):
        shown = repr(err["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"{msg} (got {shown})"
    return msg


def from_validation(
    file: str,
    exc: ValidationError,
    prefix: Iterable[str | int] = (),
    data: Any = None,
    namespace: str = "",
    unknown: str = "unknown key (check the spelling against environments/schema.json)",
) -> ConfigError:
    """Turn pydantic's errors into one Problem per fault, with key paths into `data` (the validated input).

    `namespace` is put before the first key (stack files write `micro-infra:<key>`); `unknown` is the message
    for a key the model does not have.
    """
    problems = []
    for err in exc.errors(include_url=False):
        loc = _in_data(err["loc"], data)
        if namespace and loc and isinstance(loc[0], str):
            loc[0] = namespace + loc[0]
        base = key_path([*prefix, *loc])
        for part in _expected(err, unknown).split("\n"):
            rel = _REL.match(part)
            if rel and err["type"] == "value_error":
                sub = rel.group(1)
                path = sub if not base else base + sub if sub.startswith("[") else f"{base}.{sub}"
                problems.append(Problem(file, path, rel.group(2)))
            else:
                problems.append(Problem(file, base, part))
    return ConfigError(problems)
