"""The real Pulumi engine through the Automation API, on a local workspace (this repository).

`prepare(stack)` does every check that needs no engine: the stack file and its environment are
validated, the pulumi CLI is found, the secrets passphrase and (for Azure stacks) Azure credentials
are looked for. A bad stack or a missing tool therefore stops before any engine process runs or
any state directory is made. `Prepared.open()` then selects (or creates) the stack in the backend,
and the `EngineStack` it returns runs preview, up, destroy, refresh and outputs, streaming engine
events to a callback.

Defaults, each overridable from the environment:
- backend: `file://<repo>/.pulumi-state` (gitignored), unless PULUMI_BACKEND_URL is set. It fails closed:
  a PULUMI_BACKEND_URL that is set but empty (an unset CI variable), or a cloud stack in CI (CI=true)
  with no backend, is a SetupError, never a preview against an empty throwaway state;
- secrets provider: the stack file's `secretsprovider:` (cloud stacks: the `azurekeyvault://` key that
  `infra bootstrap` makes), else passphrase. The passphrase comes from PULUMI_CONFIG_PASSPHRASE or
  PULUMI_CONFIG_PASSPHRASE_FILE.
  Only a kind stack (`local`) falls back to an empty passphrase when neither is set: its one secret is
  a laptop cluster's backup passphrase and its state stays in the gitignored state directory, so a
  passphrase would protect nothing and only add a setup step. Cloud stacks never fall back.
- CLI: `pulumi` on PATH if it is 3.x at or above the SDK pin, else the bin directory that
  scripts/ensure-pulumi builds. Plugins are found on PATH (that directory is put first) and never
  downloaded (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from infra.config.loader import Stack, load_stack, read_yaml, repo_root
from infra.config.model import Cloud

PULUMI_PIN = importlib.metadata.version("pulumi")
"""The Python SDK pin; the CLI must be this version or a newer 3.x (the CLI is backward compatible)."""
STATE_DIR = ".pulumi-state"
SUMMARY_OPS = ("create", "update", "replace", "delete", "same")
"""Change-summary keys always reported, zero or not."""
_REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
"""The engine reports one replacement as up to three steps; they count as one replace."""

OnEvent = Callable[[auto.EngineEvent], None]


@dataclass(frozen=True)
class UpOptions:
    """The `pulumi up`/`pulumi preview` flags that `infra up` and `infra preview` pass through unchanged."""

    target: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    refresh: bool = False
    diff: bool = False
    policy_packs: tuple[str, ...] = ()
    message: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the Automation API's Stack.preview/up (only the ones set)."""
        chosen: dict[str, Any] = {
            "target": list(self.target),
            "replace": list(self.replace),
            "refresh": self.refresh,
            "diff": self.diff,
            "policy_packs": list(self.policy_packs),
            "message": self.message,
        }
        return {k: v for k, v in chosen.items() if v}


class SetupError(Exception):
    """The engine cannot be started (missing tool, credential or state); the CLI exits 2 on it."""


class EngineError(Exception):
    """The engine ran and failed; the message is the engine's own error. The CLI exits 1 on it."""


@dataclass(frozen=True)
class Step:
    """One resource operation the engine announced (a ResourcePreEvent)."""

    op: str
    """create, update, replace, delete, same, ... (replacement sub-steps are folded into replace)."""
    urn: str
    type: str
    protect: bool
    diffs: tuple[str, ...] = ()
    """Top-level input keys that changed."""
    replace_keys: tuple[str, ...] = ()
    """The changed keys that force a replacement."""

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


CREDENTIAL_INPUTS = {"pulumi:providers:kubernetes": frozenset({"kubeconfig"})}
"""Provider inputs that carry only a credential. The cloud stacks' Kubernetes provider gets a fresh bearer token each
run (components/azure/aks_cluster.py), so its kubeconfig always differs while the cluster, pinned by
`clusterIdentifier`, does not: an update of those keys alone is not drift."""
_NO_CHANGE = frozenset({"same", "read", "refresh"})


def unexpected_changes(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps `--expect-no-changes` counts: every change except a provider's credential-only update."""
    return tuple(
        s
        for s in steps
        if s.op not in _NO_CHANGE
        and not (s.op == "update" and s.diffs and set(s.diffs) <= CREDENTIAL_INPUTS.get(s.type, frozenset()))
    )


@dataclass(frozen=True)
class Result:
    """What one engine command did."""

    stack: str
    command: str
    summary: dict[str, int]
    """Resources per operation, from the engine's change summary (SUMMARY_OPS always present)."""
    seconds: float
    outputs: dict[str, auto.OutputValue] = field(default_factory=dict)
    """Stack outputs after up; empty for the other commands."""
    steps: tuple[Step, ...] = ()
    """Every resource operation announced, in order (one per resource)."""

    def to_json(self, show_secrets: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "stack": self.stack,
            "command": self.command,
            "changeSummary": self.summary,
            "durationSeconds": round(self.seconds, 2),
        }
        if self.command == "preview":
            doc["changes"] = [{"op": s.op, "urn": s.urn, "type": s.type} for s in self.steps if s.op != "same"]
        if self.command == "up":
            doc["outputs"] = outputs_json(self.outputs, show_secrets)
        return doc


def outputs_json(outputs: dict[str, auto.OutputValue], show_secrets: bool = False) -> dict[str, Any]:
    """Output name → value, with secrets as "[secret]" unless asked for."""
    return {k: (v.value if show_secrets or not v.secret else "[secret]") for k, v in outputs.items()}


# --- checks that need no engine --------------------------------------------------------------


def locate_pulumi() -> Path:
    """The directory holding the pulumi CLI to use (and, for a scripts/ensure-pulumi build, its plugins)."""
    found = ""
    on_path = shutil.which("pulumi")
    if on_path:
        version = _cli_version(Path(on_path))
        if _usable_version(version):
            return Path(on_path).parent
        found = f" (ignored {on_path}: version {version or 'unknown'}, need 3.x >= {PULUMI_PIN})"
    cache = Path(os.environ.get("MICRO_INFRA_CACHE") or Path.home() / ".cache" / "micro-infra")
    built = cache / f"pulumi-{PULUMI_PIN}" / "bin"
    if os.access(built / "pulumi", os.X_OK) and _usable_version(_cli_version(built / "pulumi")):
        return built
    raise SetupError(
        f"pulumi CLI not found{found}: install pulumi {PULUMI_PIN} or a newer 3.x "
        "(curl -fsSL https://get.pulumi.com | sh); this repository's CI builds one with scripts/ensure-pulumi"
    )


def _cli_version(binary: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(binary), "version"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"},
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip().removeprefix("v") if done.returncode == 0 else None


def _release(version: str | None) -> tuple[int, ...] | None:
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", version or "")
    return tuple(int(g) for g in match.groups()) if match else None


def _usable_version(version: str | None) -> bool:
    found, pin = _release(version), _release(PULUMI_PIN)
    return found is not None and pin is not None and found[0] == pin[0] and found >= pin


def backend_url(root: Path, stack: Stack | None = None) -> str:
    """PULUMI_BACKEND_URL, else a file backend in <root>/.pulumi-state (made when a stack is opened).

    SetupError when the variable is set but empty, or when a cloud stack runs in CI without one: a
    runner-local state would make every resource look new.
    """
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url is not None and not url.strip():
        raise SetupError(
            "PULUMI_BACKEND_URL is set but empty: set it to the state container (azblob://<container>"
            "?storage_account=<account>, printed by `infra bootstrap`) or unset it for the local file backend"
        )
    if url:
        return url
    if stack is not None and stack.environment.cloud is not Cloud.kind and os.environ.get("CI") == "true":
        raise SetupError(
            f"stack {stack.name} runs in CI (CI=true) without PULUMI_BACKEND_URL: refusing a runner-local "
            "state; set the PULUMI_BACKEND_URL repository variable (infra bootstrap prints it)"
        )
    return (root / STATE_DIR).resolve().as_uri()


def secrets_provider(stack: Stack) -> str:
    """The stack file's `secretsprovider:`, else passphrase."""
    named = read_yaml(stack.file).get("secretsprovider")
    return named if isinstance(named, str) and named else "passphrase"


def passphrase_env(stack: Stack) -> tuple[dict[str, str], list[str]]:
    """Extra environment for the passphrase provider, and notes for the user; SetupError if none is set."""
    file = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if "PULUMI_CONFIG_PASSPHRASE" in os.environ:
        return {}, []
    if file:
        if not os.access(file, os.R_OK):
            raise SetupError(f"PULUMI_CONFIG_PASSPHRASE_FILE={file} cannot be read")
        return {}, []
    if stack.environment.cloud is Cloud.kind:
        note = (
            f"PULUMI_CONFIG_PASSPHRASE is not set: stack {stack.name} (kind) uses an empty passphrase; "
            "its secrets are laptop-only"
        )
        return {"PULUMI_CONFIG_PASSPHRASE": ""}, [note]
    raise SetupError(
        f"stack {stack.name} encrypts its secrets with a passphrase, and none is set: export "
        "PULUMI_CONFIG_PASSPHRASE=<passphrase> (or PULUMI_CONFIG_PASSPHRASE_FILE=<file>), or give the stack "
        "its Key Vault key: `infra bootstrap --env <env>` prints the `pulumi stack change-secrets-provider` line"
    )


def _env(*names: str) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def check_azure_credentials(stack: Stack) -> str:
    """How the Azure provider will authenticate for `stack`; SetupError naming what is missing.

    Accepted: a service principal secret or an OIDC token (ARM_* or AZURE_* variables), a managed
    identity (ARM_USE_MSI=true), or a logged-in Azure CLI.
    """
    client = _env("ARM_CLIENT_ID", "AZURE_CLIENT_ID")
    tenant = _env("ARM_TENANT_ID", "AZURE_TENANT_ID")
    subscription = _env("ARM_SUBSCRIPTION_ID", "AZURE_SUBSCRIPTION_ID")
    secret = _env("ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET")
    token = _env("ARM_OIDC_TOKEN", "ARM_OIDC_TOKEN_FILE_PATH", "AZURE_FEDERATED_TOKEN_FILE") or (
        _env("ARM_OIDC_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_URL")
        and _env("ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )
    oidc = os.environ.get("ARM_USE_OIDC", "").lower() == "true" or bool(_env("AZURE_FEDERATED_TOKEN_FILE"))
    if client and tenant and subscription and (secret or (oidc and token)):
        return "service principal (client secret)" if secret else "OIDC (workload identity federation)"
    if os.environ.get("ARM_USE_MSI", "").lower() == "true" and subscription:
        return "managed identity"
    if _az_logged_in():
        return "Azure CLI login"
    missing = [
        name
        for name, value in (
            ("ARM_CLIENT_ID", client),
            ("ARM_TENANT_ID", tenant),
            ("ARM_SUBSCRIPTION_ID", subscription),
            ("ARM_CLIENT_SECRET or ARM_USE_OIDC=true with an OIDC token", secret or (oidc and token)),
        )
        if not value
    ]
    az = "the Azure CLI is not logged in" if shutil.which("az") else "the Azure CLI (az) is not installed"
    raise SetupError(
        f"stack {stack.name} deploys to Azure, and no Azure credentials were found: missing "
        f"{', '.join(missing)}; {az}. Run `az login` (and `az account set --subscription <id>`), or export "
        "ARM_CLIENT_ID, ARM_TENANT_ID, ARM_SUBSCRIPTION_ID and ARM_CLIENT_SECRET (service principal); "
        "in GitHub Actions use azure/login with OIDC (permissions: id-token: write) and ARM_USE_OIDC=true"
    )


def _az_logged_in() -> bool:
    az = shutil.which("az")
    if az is None:
        return False
    try:
        done = subprocess.run([az, "account", "show", "--output", "none"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# --- the workspace -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A validated stack and everything needed to run the engine on it; no engine process has run yet."""

    stack: Stack
    root: Path
    """The workspace: Pulumi.yaml, stacks/ and environments/ (MICRO_INFRA_ROOT, else this checkout)."""
    bin_dir: Path
    backend: str
    secrets_provider: str
    env: dict[str, str]
    """Environment for every engine process (backend, PATH, plugin and passphrase settings)."""
    notes: tuple[str, ...] = ()
    """Defaults taken that the user should hear about."""

    def command(self) -> auto.PulumiCommand:
        if self.bin_dir.name == "bin":
            return auto.PulumiCommand(root=str(self.bin_dir.parent))
        return auto.PulumiCommand()  # found on PATH in a directory not named bin

    def options(self) -> auto.LocalWorkspaceOptions:
        """Workspace options for this stack's project; another project may reuse them with its own work_dir."""
        return auto.LocalWorkspaceOptions(
            work_dir=str(self.root),
            env_vars=self.env,
            secrets_provider=self.secrets_provider,
            pulumi_command=self.command(),
        )

    def open(self, create: bool = False) -> EngineStack:
        """Select the stack in the backend; with `create`, make it first if it is not there."""
        name = self.stack.name
        if self.backend == (self.root / STATE_DIR).resolve().as_uri():
            (self.root / STATE_DIR).mkdir(exist_ok=True)
        try:
            if create:
                stack = auto.create_or_select_stack(name, work_dir=str(self.root), opts=self.options())
            else:
                stack = auto.select_stack(name, work_dir=str(self.root), opts=self.options())
        except auto.StackNotFoundError:
            raise SetupError(
                f"stack {name} has no state in {self.backend} yet: run `infra up --stack {name}` first"
            ) from None
        except auto.CommandError as exc:
            raise EngineError(engine_message(str(exc), [])) from None
        return EngineStack(self, stack)


def prepare(name: str, root: Path | None = None) -> Prepared:
    """Validate stack `name` and check the CLI and credentials; ConfigError or SetupError on a problem."""
    root = root or repo_root()
    stack = load_stack(name, root)
    if not (root / "Pulumi.yaml").is_file():
        raise SetupError(f"{root} has no Pulumi.yaml: run from a micro-infra checkout or fix MICRO_INFRA_ROOT")
    bin_dir = locate_pulumi()
    provider = secrets_provider(stack)
    extra, notes = passphrase_env(stack) if provider == "passphrase" else ({}, [])
    if stack.environment.cloud is Cloud.azure:
        check_azure_credentials(stack)
    backend = backend_url(root, stack)
    env = {
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        # The program reads environments/ through repo_root(): the same files this check validated.
        "MICRO_INFRA_ROOT": str(root),
        **extra,
    }
    return Prepared(stack, root, bin_dir, backend, provider, env, tuple(notes))


def select_stack(name: str, create: bool = False, root: Path | None = None) -> EngineStack:
    """prepare() then open(): the stack, ready to run."""
    return prepare(name, root).open(create)


class EngineStack:
    """One stack of the local workspace: the engine commands, each returning a Result."""

    def __init__(self, prepared: Prepared, stack: auto.Stack) -> None:
        self.prepared = prepared
        self.stack = stack
        """The Automation API stack, for anything this wrapper does not cover."""

    @property
    def name(self) -> str:
        return self.stack.name

    def preview(self, on_event: OnEvent | None = None, options: UpOptions | None = None) -> Result:
        kwargs = (options or UpOptions()).kwargs()
        return self._run("preview", lambda cb: self.stack.preview(on_event=cb, **kwargs), on_event)

    def up(self, on_event: OnEvent | None = None, options: UpOptions | None = None) -> Result:
        kwargs = (options or UpOptions()).kwargs()
        return self._run("up", lambda cb: self.stack.up(on_event=cb, **kwargs), on_event)

    def destroy(self, on_event: OnEvent | None = None) -> Result:
        return self._run("destroy", lambda cb: self.stack.destroy(on_event=cb), on_event)

    def refresh(self, on_event: OnEvent | None = None) -> Result:
        return self._run("refresh", lambda cb: self.stack.refresh(on_event=cb), on_event)

    def outputs(self) -> dict[str, auto.OutputValue]:
        try:
            return dict(self.stack.outputs())
        except auto.CommandError as exc:
            raise EngineError(engine_message(str(exc), [])) from None

    def resource_count(self) -> int:
        """Resources in the stack's state, the stack resource itself included (0 after destroy)."""
        try:
            deployment = self.stack.export_stack().deployment or {}
        except auto.CommandError as exc:
            raise EngineError(engine_message(str(exc), [])) from None
        return len(deployment.get("resources") or [])

    def _run(self, command: str, call: Callable[[OnEvent], Any], on_event: OnEvent | None) -> Result:
        recorder = _Recorder(on_event)
        started = time.monotonic()
        try:
            result = call(recorder)
        except auto.CommandError as exc:
            raise EngineError(engine_message(str(exc), recorder.errors)) from None
        except RuntimeError as exc:  # preview: "summary event never found" when the engine died early
            raise EngineError(engine_message(str(exc), recorder.errors)) from None
        seconds = time.monotonic() - started
        if command == "preview":
            changes = result.change_summary
        else:
            changes = result.summary.resource_changes if result.summary else None
        outputs = dict(result.outputs) if command == "up" else {}
        return Result(self.name, command, summarize(changes or {}), seconds, outputs, recorder.steps())


def summarize(changes: Any) -> dict[str, int]:
    """The engine's change summary with plain string keys, SUMMARY_OPS always present."""
    summary = dict.fromkeys(SUMMARY_OPS, 0)
    for op, count in dict(changes).items():
        key = getattr(op, "value", str(op))
        summary[key] = summary.get(key, 0) + int(count)
    return summary


class _Recorder:
    """Engine-event callback: remembers steps and error diagnostics, then forwards to the caller's."""

    def __init__(self, forward: OnEvent | None) -> None:
        self.forward = forward
        self.errors: list[str] = []
        self._steps: dict[str, Step] = {}
        self._lock = threading.Lock()

    def __call__(self, event: auto.EngineEvent) -> None:
        with self._lock:
            if event.resource_pre_event is not None:
                self._step(event.resource_pre_event.metadata)
            diag = event.diagnostic_event
            if diag is not None and diag.severity == "error":
                self.errors.append(diag.message.strip())
        if self.forward is not None:
            self.forward(event)

    def _step(self, meta: auto.StepEventMetadata) -> None:
        op = "replace" if meta.op.value in _REPLACE_OPS else meta.op.value
        state = meta.new or meta.old
        if meta.urn in self._steps and op != "replace":
            return
        self._steps[meta.urn] = Step(
            op=op,
            urn=meta.urn,
            type=meta.type,
            protect=bool(state and state.protect),
            diffs=tuple(meta.diffs or ()),
            replace_keys=tuple(meta.keys or ()) if op == "replace" else (),
        )

    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps.values())


_ERROR_LINE = re.compile(r"^(?:\s*stderr:)?\s*error:\s*(.+)$", re.MULTILINE)
"""An `error:` line of the CLI's output; CommandError's text prefixes the first stderr line with `stderr:`."""
_ANSI = re.compile(r"\x1b\[[0-9;]*m|<\{%[^%]*%\}>")


def engine_message(text: str, diagnostics: list[str]) -> str:
    """The engine's own error: its error diagnostics, else the `error:` lines of its output, else the output tail."""
    lines = [_ANSI.sub("", d).strip() for d in diagnostics if d.strip()]
    lines = [d for d in lines if d != "update failed" and not d.startswith("preview failed")] or lines
    if not lines:
        lines = [_ANSI.sub("", m).strip() for m in _ERROR_LINE.findall(text)]
    if not lines:
        framing = re.compile(r"^\s*(code: \d+|stdout:|stderr:)\s*$")
        tail = [line for line in _ANSI.sub("", text).splitlines() if line.strip() and not framing.match(line)]
        lines = tail[-5:] or ["the engine failed without a message"]
    return "\n".join(dict.fromkeys(lines))
