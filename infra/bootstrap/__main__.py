"""The bootstrap program under the real engine (infra/bootstrap/Pulumi.yaml): stack name = environment."""

from __future__ import annotations

import pulumi

from infra.bootstrap import Bootstrap
from infra.config.loader import load_environment, repo_root

_env = pulumi.get_stack()
_environment = load_environment(repo_root() / "environments" / f"{_env}.yaml", f"environments/{_env}.yaml")
Bootstrap(_environment, pulumi.Config().require("githubRepository")).program()()
