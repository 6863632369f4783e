"""`infra preview|up|destroy|refresh|outputs`: the real Pulumi engine on one stack.

Each command validates the stack and checks the CLI and credentials first (exit 2, nothing run),
then runs the engine through infra/engine.py, showing one live status line per resource operation
on stderr and a change summary at the end. `--json` keeps stdout to the machine document.
An engine failure exits 1 with the engine's own error message.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from infra.cli.common import console, emit_json, fail, fail_config, json_errors, out, writable
from infra.config.errors import ConfigError
from infra.config.model import Cloud

if TYPE_CHECKING:
    from pulumi import automation as auto

    from infra.engine import EngineStack, Prepared, Result, UpOptions

ENGINE_FAILED = 1
NOT_CONFIRMED = 1

StackOption = Annotated[str, typer.Option("--stack", "-s", help="Stack to run (stacks/Pulumi.<stack>.yaml).")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print only the machine document on stdout (errors too, as {error: ...}).")
]
# Passed to the engine as `pulumi up`/`pulumi preview` take them.
TargetOption = Annotated[
    list[str] | None, typer.Option("--target", "-t", help="Only this resource URN (repeatable), as pulumi --target.")
]
ReplaceOption = Annotated[
    list[str] | None, typer.Option("--replace", help="Replace this resource URN (repeatable), as pulumi --replace.")
]
RefreshOption = Annotated[bool, typer.Option("--refresh", "-r", help="Refresh the state first, as pulumi --refresh.")]
DiffOption = Annotated[bool, typer.Option("--diff", help="Show the changed properties of each resource.")]
PolicyPackOption = Annotated[
    list[str] | None,
    typer.Option("--policy-pack", help="Run this policy pack (repeatable), e.g. policy/analyzer, as pulumi does."),
]
MessageOption = Annotated[str | None, typer.Option("--message", "-m", help="Message recorded with the update.")]


def preview(
    stack: StackOption,
    as_json: JsonOption = False,
    comment: Annotated[
        Path | None, typer.Option("--comment", help="Also write the changes as a markdown PR comment to this file.")
    ] = None,
    target: TargetOption = None,
    replace: ReplaceOption = None,
    refresh: RefreshOption = False,
    diff: DiffOption = False,
    policy_pack: PolicyPackOption = None,
    message: MessageOption = None,
    expect_no_changes: Annotated[
        bool,
        typer.Option(
            "--expect-no-changes",
            help="Exit 1 if anything would change (drift), as pulumi's flag, except a provider's fresh credential.",
        ),
    ] = False,
) -> None:
    """Show what `up` would change, from the real engine against the stack's deployed state.

    The stack is created in the backend if it is not there yet (every resource is then a create).
    """
    json_errors(as_json)
    options = _options(target, replace, refresh, diff, policy_pack, message)
    if comment is not None:
        writable(comment, "--comment")
    engine_stack = _open(stack, create=True)
    result = run_command(engine_stack, "preview", options)
    if comment is not None:
        try:
            comment.write_text(preview_comment(result, engine_stack.prepared.backend))
        except OSError as exc:
            fail(f"--comment: cannot write {comment} ({exc.strerror})")
        console.print(f"wrote {escape(str(comment))}", soft_wrap=True, highlight=False)
    report(result, as_json)
    from infra.engine import unexpected_changes

    if expect_no_changes and (changed := unexpected_changes(result.steps)):
        listed = ", ".join(f"{s.op} {s.name} ({s.type})" for s in changed)
        sys.stderr.write(f"--expect-no-changes: {len(changed)} would change: {listed}\n")
        raise typer.Exit(1)


def up(
    stack: StackOption,
    as_json: JsonOption = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Apply without the preview and question (needed without a terminal).")
    ] = False,
    target: TargetOption = None,
    replace: ReplaceOption = None,
    refresh: RefreshOption = False,
    diff: DiffOption = False,
    policy_pack: PolicyPackOption = None,
    message: MessageOption = None,
) -> None:
    """Create or update the stack's resources, as `pulumi up` does: preview, ask, then apply.

    In a terminal every stack is previewed and the update waits for a yes. Without one, a cloud stack
    needs --yes (nothing runs otherwise); a kind stack (local, parity) is applied directly.
    """
    json_errors(as_json)
    options = _options(target, replace, refresh, diff, policy_pack, message)
    prepared = prepare_stack(stack)
    interactive = sys.stdin.isatty()
    if prepared.stack.environment.cloud is not Cloud.kind and not yes and not interactive:
        fail(f"up of stack {stack} (a cloud stack) asks before it changes anything: pass --yes, or use a terminal")
    engine_stack = open_stack(prepared, create=True)
    if not yes and interactive:
        planned = run_command(engine_stack, "preview", options)
        console.print(summary_table(planned))
        if not _confirmed(f"Apply these changes to stack {stack}?"):
            fail(f"up of stack {stack}: not confirmed; nothing was changed", NOT_CONFIRMED)
    result = run_command(engine_stack, "up", options)
    report(result, as_json)


def destroy(
    stack: StackOption,
    as_json: JsonOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm deleting every resource of the stack.")] = False,
) -> None:
    """Delete every resource of the stack (its state and stack file stay)."""
    json_errors(as_json)
    if not yes:
        fail(f"destroy deletes every resource of stack {stack}: pass --yes to confirm")
    prepared = prepare_stack(stack)
    result = run_command(open_stack(prepared, create=False), "destroy")
    report(result, as_json)


def refresh(
    stack: StackOption,
    as_json: JsonOption = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm; required for the platform environment.")] = False,
) -> None:
    """Update the stack's state from what really exists (no resource is changed)."""
    json_errors(as_json)
    prepared = prepare_stack(stack)
    _require_yes_for_platform(prepared, "refresh", yes)
    result = run_command(open_stack(prepared, create=False), "refresh")
    report(result, as_json)


def outputs(
    stack: StackOption,
    as_json: JsonOption = False,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="Print secret outputs in clear.")] = False,
) -> None:
    """Print the stack's outputs from its last `up`."""
    from infra.engine import EngineError, outputs_json

    json_errors(as_json)
    engine_stack = _open(stack, create=False)
    try:
        values = outputs_json(engine_stack.outputs(), show_secrets)
    except EngineError as exc:
        fail(str(exc), ENGINE_FAILED)
    if as_json:
        emit_json({"stack": stack, "outputs": values})
    else:
        out.print(_outputs_table(values))


# --- shared steps ----------------------------------------------------------------------------------


def prepare_stack(stack: str) -> Prepared:
    from infra.engine import SetupError, prepare

    try:
        prepared = prepare(stack)
    except ConfigError as exc:
        fail_config(exc)
    except SetupError as exc:
        fail(str(exc))
    for note in prepared.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
    return prepared


def open_stack(prepared: Prepared, create: bool) -> EngineStack:
    from infra.engine import EngineError, SetupError

    try:
        return prepared.open(create)
    except SetupError as exc:
        fail(str(exc))
    except EngineError as exc:
        fail(str(exc), ENGINE_FAILED)


def _open(stack: str, create: bool) -> EngineStack:
    return open_stack(prepare_stack(stack), create)


def _require_yes_for_platform(prepared: Prepared, command: str, yes: bool) -> None:
    if prepared.stack.environment.name == "platform" and not yes:
        fail(f"{command} on stack {prepared.stack.name} changes production (platform): pass --yes to confirm")


def _options(
    target: list[str] | None,
    replace: list[str] | None,
    refresh: bool,
    diff: bool,
    policy_pack: list[str] | None,
    message: str | None,
) -> UpOptions:
    from infra.engine import UpOptions

    packs = tuple(str(Path(p).resolve()) for p in policy_pack or ())  # the engine runs in the project root
    return UpOptions(tuple(target or ()), tuple(replace or ()), refresh, diff, packs, message)


def _confirmed(question: str) -> bool:
    """Ask on the terminal (the question on stderr, so stdout stays the result); only yes/y proceeds."""
    try:
        answer = console.input(escape(f"{question} [y/N] "))
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run_command(engine_stack: EngineStack, command: str, options: UpOptions | None = None) -> Result:
    from infra.engine import EngineError

    progress = Progress(command, engine_stack.name, diff=bool(options and options.diff))
    try:
        with console.status(progress.line, spinner="dots") as status:
            progress.status = status
            if options is not None:
                result = getattr(engine_stack, command)(on_event=progress, options=options)
            else:
                result = getattr(engine_stack, command)(on_event=progress)
    except EngineError as exc:
        fail(f"{command} of stack {engine_stack.name} failed:\n{exc}", ENGINE_FAILED)
    done = f"{command} of stack {engine_stack.name}: done in {result.seconds:.1f}s"
    console.print(done, soft_wrap=True, highlight=False)
    return result


def report(result: Result, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
        return
    out.print(summary_table(result))
    if result.command == "up" and result.outputs:
        from infra.engine import outputs_json

        out.print(_outputs_table(outputs_json(result.outputs)))


# --- progress ----------------------------------------------------------------------------------------

_VERBS = {
    "create": ("creating", "created", "green", "+"),
    "update": ("updating", "updated", "yellow", "~"),
    "replace": ("replacing", "replaced", "magenta", "+-"),
    "create-replacement": ("replacing", "replaced", "magenta", "+-"),
    "delete-replaced": ("replacing", "replaced", "magenta", "+-"),
    "delete": ("deleting", "deleted", "red", "-"),
    "refresh": ("refreshing", "refreshed", "cyan", "~"),
    "read": ("reading", "read", "cyan", ">"),
}


class Progress:
    """Engine-event callback: a live status line per resource operation, a log line when one finishes.

    In preview the finished line says what would happen; diagnostics (warnings and errors) are shown
    once each. Events arrive on the Automation API's gRPC threads, hence the lock.
    """

    def __init__(self, command: str, stack: str, diff: bool = False) -> None:
        self.command = command
        self.stack = stack
        self.diff = diff
        """--diff: each logged operation also names the properties it changes."""
        self.line = f"{command} of stack {stack}: starting the engine"
        self.status: Any = None
        self.done = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, event: auto.EngineEvent) -> None:
        with self._lock:
            if event.resource_pre_event is not None:
                self._pre(event.resource_pre_event.metadata)
            elif event.res_outputs_event is not None:
                self._finished(event.res_outputs_event.metadata)
            elif event.diagnostic_event is not None:
                self._diagnostic(event.diagnostic_event)

    def _pre(self, meta: auto.StepEventMetadata) -> None:
        doing = _VERBS.get(meta.op.value, (meta.op.value,))[0]
        self._update(f"{self.command} of stack {self.stack}: {doing} {_short(meta.type)} {_name(meta.urn)}")
        if self.command == "preview" and meta.op.value in _VERBS:
            self._log(meta, would=True)

    def _finished(self, meta: auto.StepEventMetadata) -> None:
        self.done += 1
        self._update(f"{self.command} of stack {self.stack}: {self.done} done, last {_name(meta.urn)}")
        if meta.op.value in _VERBS and self.command != "preview":
            self._log(meta, would=False)

    def _log(self, meta: auto.StepEventMetadata, would: bool) -> None:
        _, done, colour, sign = _VERBS[meta.op.value]
        key = f"{sign} {meta.urn}"
        if key in self._seen:
            return
        self._seen.add(key)
        verb = f"would be {done}" if would else done
        line = f"[{colour}]{sign}[/] {escape(meta.type)} {escape(_name(meta.urn))} {verb}"
        if self.diff and meta.diffs:
            line += f" [dim]({escape(', '.join(meta.diffs))})[/]"
        console.print(line, soft_wrap=True, highlight=False)

    def _diagnostic(self, diag: auto.DiagnosticEvent) -> None:
        if diag.ephemeral or diag.severity == "debug":
            return
        message = diag.message.strip()
        key = f"{diag.severity} {diag.urn} {message}"
        if not message or key in self._seen:
            return
        self._seen.add(key)
        where = f" ({_name(diag.urn)})" if diag.urn else ""
        style = {"error": "red", "warning": "yellow"}.get(diag.severity, "dim")
        line = f"[{style}]{escape(diag.severity)}{escape(where)}:[/] {escape(message)}"
        console.print(line, soft_wrap=True, highlight=False)

    def _update(self, line: str) -> None:
        self.line = line
        if self.status is not None:
            self.status.update(escape(line))


def _name(urn: str | None) -> str:
    return (urn or "").rsplit("::", 1)[-1]


def _short(type_: str) -> str:
    """kubernetes:apps/v1:Deployment → Deployment."""
    return type_.rsplit(":", 1)[-1]


# --- reports ---------------------------------------------------------------------------------------


def summary_table(result: Result) -> Table:
    table = Table(title=f"{result.command} of stack {result.stack}", title_justify="left")
    table.add_column("operation")
    table.add_column("resources", justify="right")
    for op, count in result.summary.items():
        table.add_row(op, str(count))
    return table


def _outputs_table(values: dict[str, Any]) -> Table:
    table = Table(title="outputs", title_justify="left")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for name, value in values.items():
        table.add_row(name, escape(value if isinstance(value, str) else json.dumps(value, sort_keys=True)))
    return table


def preview_comment(result: Result, backend: str) -> str:
    """A PR comment of the real preview, in the same layout as `infra diff --comment`."""
    from infra.workflows.comment import render_comment
    from infra.workflows.plan_diff import OPS, ResourceChange, StackDiff

    changes = tuple(
        ResourceChange(
            op=op,
            urn=step.urn,
            type=step.type,
            name=step.name,
            protected=step.protect,
            paths=step.diffs,
            replace_paths=(step.replace_keys or step.diffs) if op == "replace" else (),
        )
        for step in result.steps
        for op in OPS
        if step.op == op and step.type != "pulumi:pulumi:Stack"
    )
    diff = StackDiff(result.stack, changes, unchanged=result.summary.get("same", 0))
    note = (
        f"`pulumi preview` of the real engine against the deployed state in `{_safe_backend(backend)}`: "
        "provider-level diffs, secrets compared inside."
    )
    return render_comment(
        [diff],
        f"Preview: stack `{result.stack}`",
        note=note,
        full_listing=f"infra preview --stack {result.stack} --json",
    )


def _safe_backend(url: str) -> str:
    """The backend URL without credentials or query parameters (they may carry keys)."""
    scheme, sep, rest = url.partition("://")
    host = rest.rsplit("@", 1)[-1].split("?", 1)[0]
    return f"{scheme}{sep}{host}" if sep else url.split("?", 1)[0]
