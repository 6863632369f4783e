"""`infra doctor`: the subscription has what the stack's first `up` needs (rights, vCPU quota, providers)."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.cli.common import emit_json, fail, fail_config, out
from infra.config.errors import ConfigError

CHECKS_FAILED = 1


def doctor(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack to check (stacks/Pulumi.<stack>.yaml).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check the Azure subscription against a cloud stack before `up`: the deployer's role rights, the vCPU
    quota at the autoscaler's maximum plus an upgrade's surge, and the resource providers.

    Reads Azure with the deployer's token ($AZURE_ACCESS_TOKEN, else `az account get-access-token`). Prints one
    line per check, with its fix when it fails; exits 1 when a check fails, 2 on bad input or when Azure cannot
    be asked.
    """
    from infra import doctor as checks
    from infra.config.loader import load_stack

    try:
        loaded = load_stack(stack)
    except ConfigError as exc:
        fail_config(exc)
    if not loaded.environment.is_cloud:
        fail(f"--stack: {stack} runs on kind; infra doctor checks Azure stacks (staging, platform)")
    try:
        session = checks.connect()
        results = checks.run(loaded, session.get, session.subscription, session.principal)
    except checks.ArmError as exc:
        fail(f"infra doctor: {exc}")
    if as_json:
        emit_json(checks.report(stack, session, results))
    else:
        for check in results:
            out.print(check.line(), markup=False, highlight=False, soft_wrap=True)
        failed = sum(not c.ok for c in results)
        out.print(f"{stack}: {len(results) - failed} passed, {failed} failed", highlight=False)
    if not all(c.ok for c in results):
        raise typer.Exit(CHECKS_FAILED)
