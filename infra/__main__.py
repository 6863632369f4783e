"""Entry point for the real Pulumi engine (`pulumi up -s staging`): load, validate, build."""

import pulumi
from pulumi.runtime.config import CONFIG

from infra.config.errors import ConfigError
from infra.config.loader import stack_from_engine
from infra.program import program_for

try:
    stack = stack_from_engine(pulumi.get_stack(), dict(CONFIG.get()))
except ConfigError as exc:
    raise pulumi.RunError(f"invalid configuration:\n{exc}") from None

program_for(stack)()
