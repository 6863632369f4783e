"""The `infra` CLI: one small module per command group, composed here."""

from __future__ import annotations

import contextlib
import os
import sys

import typer

from infra.cli import bootstrap, check, diff, doctor, engine_cmds, local, plan, promote, render, stack
from infra.cli.common import BAD_INPUT, json_errors
from infra.config.errors import ConfigError
from infra.plan.memory import relax_collections

app = typer.Typer(
    help="micro-infra: plan, preview and run the Micro platform's Pulumi stacks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("plan")(plan.plan)
app.command("check")(check.check)
app.command("doctor")(doctor.doctor)
app.command("render")(render.render)
app.add_typer(stack.app, name="stack")
app.command("promote")(promote.promote)
app.command("bootstrap")(bootstrap.bootstrap)
app.command("diff")(diff.diff)
app.command("preview")(engine_cmds.preview)
app.command("up")(engine_cmds.up)
app.command("destroy")(engine_cmds.destroy)
app.command("refresh")(engine_cmds.refresh)
app.command("outputs")(engine_cmds.outputs)
app.add_typer(local.app, name="local")


@app.callback()
def main() -> None:
    """micro-infra: plan, preview and run the Micro platform's Pulumi stacks.

    Offline commands (plan, render, check, diff, bootstrap --dry-run) need only Python. Engine commands
    (preview, up, destroy, refresh, outputs, bootstrap) need the pulumi CLI (https://www.pulumi.com/docs/install/).
    """
    json_errors(False)  # process state: the app can run more than once in a process (tests, embedding)


def run() -> None:
    """Console entry point: bugs report one line (INFRA_DEBUG=1 shows the traceback).

    Exits without the interpreter's teardown, which would free every object the command built, one
    by one (a second after planning 20 regions), once the output is flushed: mypy's fast exit.
    """
    relax_collections()  # a command's plans and documents stay alive until it exits
    code = _main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # the reader went away, or the stream closed
            stream.flush()
    os._exit(code)


def _main() -> int:
    try:
        app()
    except SystemExit as exc:
        return _exit_code(exc.code)
    except ConfigError as exc:  # bad input found outside a command's own checks (no checkout, say)
        sys.stderr.write(f"{exc}\n")
        return BAD_INPUT
    except Exception as exc:
        if os.environ.get("INFRA_DEBUG"):
            raise
        sys.stderr.write(f"infra: internal error: {type(exc).__name__}: {exc} (INFRA_DEBUG=1 for details)\n")
        return 1
    return 0


def _exit_code(code: object) -> int:
    """sys.exit's argument as a process status: None is success, a message is printed and fails."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


if __name__ == "__main__":
    run()
