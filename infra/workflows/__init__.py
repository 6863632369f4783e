"""Change workflows: add a region stack, promote release pins, diff two revisions' plans.

The commands in infra/cli/ parse flags and print; the logic lives here so that other commands
(`infra preview --comment`) and CI reuse it. Files are rendered from templates/ with Jinja2 in
strict mode: a value the template names but the caller did not pass is an error, never "".
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
"""templates/ of this checkout (code, not data: it does not follow MICRO_INFRA_ROOT)."""


class FlagError(ValueError):
    """A command-line value that cannot be used; the message names the flag and what was expected."""


def yaml_scalar(value: str) -> str:
    """`value` as a plain YAML string, double-quoted only where YAML would read it as another type.

    A tag such as 20210611 would otherwise come back as an integer and fail validation.
    """
    plain = yaml.safe_dump(value, default_flow_style=True, width=10_000).removesuffix("\n...\n").strip()
    if plain == value:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # YAML and markdown, not HTML
    )
    env.filters["yaml"] = yaml_scalar
    return env


def render(template: str, **values: Any) -> str:
    """Render templates/<template> with exactly `values` (StrictUndefined)."""
    return _environment().get_template(template).render(**values)
