"""environments/schema.json, generated from the model so editors complete and check the YAML.

`make schema` rewrites it; a test fails when the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.config.model import Environment

SCHEMA_ID = "https://github.com/micro/micro-infra/environments/schema.json"


def environment_schema() -> dict:
    schema = Environment.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "micro-infra environment"
    return schema


def render() -> str:
    return json.dumps(environment_schema(), indent=2, sort_keys=True) + "\n"


def write(path: Path) -> bool:
    """Write the schema; True when the file changed."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


if __name__ == "__main__":
    from infra.config.loader import repo_root

    target = repo_root() / "environments" / "schema.json"
    print(f"{target}: {'updated' if write(target) else 'up to date'}")
