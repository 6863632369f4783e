"""Configuration errors as a user reads them: file, key path, what was expected."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

_REL = re.compile(r"^([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_][\w]*(?:\[\d+\])?)*): (.*)$", re.S)


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


def _join(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _expected(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against environments/schema.json)"
    if "input" in err and kind not in ("value_error", "assertion_error") and not isinstance(err["input"], dict):
        shown = repr(err["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"{msg} (got {shown})"
    return msg


def from_validation(file: str, exc: ValidationError, prefix: Iterable[str | int] = ()) -> ConfigError:
    """Turn pydantic's errors into one Problem per fault, with dotted key paths."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = [*prefix, *(p for p in err["loc"] if not (isinstance(p, str) and "[" in p and p.endswith("]")))]
        base = _join(loc)
        for part in _expected(err).split("\n"):
            rel = _REL.match(part)
            if rel and err["type"] == "value_error":
                path = f"{base}.{rel.group(1)}" if base else rel.group(1)
                problems.append(Problem(file, path.replace(".[", "["), rel.group(2)))
            else:
                problems.append(Problem(file, base, part))
    return ConfigError(problems)
