"""`infra bootstrap --env E`: state backend, secrets key and GitHub identities for environment E.

`--dry-run` plans the bootstrap program offline (no Azure account, no engine) and lists every
resource and the GitHub settings it leads to. Without it the real engine runs the program
(infra/bootstrap/Pulumi.yaml): preview, a question (or --yes), up, then the settings with their values.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from infra.cli.common import console, emit_json, fail, fail_config, json_errors, out
from infra.config.errors import ConfigError

if TYPE_CHECKING:
    from infra.bootstrap import Bootstrap

REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
"""GitHub owner/name (an owner is 1-39 alphanumerics or hyphens)."""


def bootstrap(
    env: Annotated[str, typer.Option("--env", help="Cloud environment to bootstrap (environments/<env>.yaml).")],
    github_repo: Annotated[
        str | None,
        typer.Option(
            "--github-repo", help="owner/name of the GitHub repository whose workflows deploy (or GITHUB_REPOSITORY)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan offline and print what it would do; touch nothing.")
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="Backend of the bootstrap stack (its first run: the local .pulumi-state/bootstrap)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without the preview and question.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the machine document on stdout.")] = False,
) -> None:
    """Create what an environment's team needs before its first `up`, then list the GitHub settings.

    The first environment of the promotion chain (staging) also makes the shared state account and
    the read-only identity; bootstrap it first. Idempotent: a second run changes nothing.
    """
    from infra.bootstrap import Bootstrap
    from infra.config.loader import load_environment, repo_root

    json_errors(as_json)
    root = repo_root()
    known = sorted(p.stem for p in (root / "environments").glob("*.yaml"))
    if env not in known:
        fail(f"--env: no environment {env!r}; environments: {', '.join(known)}")
    try:
        environment = load_environment(root / "environments" / f"{env}.yaml", f"environments/{env}.yaml")
    except ConfigError as exc:
        fail_config(exc)
    if not environment.is_cloud:
        fail(
            f"--env: environments/{env}.yaml runs on kind (cloud: {environment.cloud.value}): "
            "there is nothing to bootstrap"
        )
    repo = github_repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        fail(
            "--github-repo: missing: pass owner/name of the GitHub repository whose workflows deploy "
            "(or set GITHUB_REPOSITORY)"
        )
    if not REPOSITORY.match(repo):
        fail(f"--github-repo: {repo!r} is not owner/name")
    boot = Bootstrap(environment, repo)
    if dry_run:
        _dry_run(boot, root, as_json)
    else:
        _apply(boot, root, backend, yes, as_json)


def _stacks(env: str, root: Path) -> list[str]:
    from infra.workflows.promote import target_stacks

    return target_stacks(env, root)


def engine_urn(urn: str) -> str:
    """The real engine's URN for an offline-plan URN: a child of the root stack has no `pulumi:pulumi:Stack$`
    in its type chain (`urn:pulumi:s::p::micro-infra:azure:AzureRegion::n`)."""
    return urn.replace("::pulumi:pulumi:Stack$", "::", 1)


def _adopt_commands(env: str, root: Path, subscription: str) -> list[str]:
    """`pulumi import` lines that hand bootstrap's resource groups to the stacks that declare them.

    Bootstrap makes the groups so that the deployer's roles can be scoped to them; each main stack
    declares its groups too, so before its first `up` it adopts them (the URNs come from its offline plan).
    """
    from infra.config.loader import load_stack
    from infra.plan.engine import run
    from infra.program import program_for

    lines = []
    for name in _stacks(env, root):
        stack = load_stack(name, root)
        graph = run(program_for(stack), name, stack.config)
        for r in graph.of_type("azure-native:resources:ResourceGroup"):
            group = r.inputs["resourceGroupName"]
            lines.append(
                f"pulumi import --stack {name} --yes azure-native:resources:ResourceGroup {r.name} "
                f"/subscriptions/{subscription}/resourceGroups/{group} --parent 'parent={engine_urn(r.parent)}'"
            )
    return lines


def _dry_run(boot: Bootstrap, root: Path, as_json: bool) -> None:
    from infra.bootstrap import github_settings
    from infra.plan.engine import run

    graph = run(boot.program(), boot.environment.name, {})
    resources = [
        {"type": r.type, "name": r.name, "protect": r.protect}
        for r in graph.registrations
        if r.custom and r.type != "pulumi:pulumi:Stack"
    ]
    settings = github_settings(boot, None, _stacks(boot.environment.name, root))
    settings["adoptCommands"] = _adopt_commands(boot.environment.name, root, "<subscription-id>")
    document = {"environment": boot.environment.name, "dryRun": True, "resources": resources, "github": settings}
    if as_json:
        emit_json(document)
        return
    out.print(f"infra bootstrap --env {boot.environment.name} would create {len(resources)} resources:")
    for r in resources:
        line = f"  + {r['type']} {r['name']}" + (" (protected)" if r["protect"] else "")
        out.print(line, highlight=False, soft_wrap=True)
    _print_settings(settings)


def _apply(boot: Bootstrap, root: Path, backend: str | None, yes: bool, as_json: bool) -> None:
    """The real engine on the bootstrap project; the stack is the environment's name."""
    from pulumi import automation as auto

    from infra.bootstrap import LOCAL_STATE, github_settings
    from infra.engine import SetupError, locate_pulumi

    env = boot.environment.name
    try:
        bin_dir = locate_pulumi()
    except SetupError as exc:
        fail(str(exc))
    if not yes and not sys.stdin.isatty():
        fail(f"bootstrap of {env} changes Azure: pass --yes, or run it in a terminal to answer after the preview")
    local = backend is None
    url = backend or (root / LOCAL_STATE).resolve().as_uri()
    if local:
        (root / LOCAL_STATE).mkdir(parents=True, exist_ok=True)
    options = auto.LocalWorkspaceOptions(
        work_dir=str(root / "infra" / "bootstrap"),
        env_vars={
            "PULUMI_BACKEND_URL": url,
            # Its state holds no secret (names, IDs, role assignments): the passphrase protects nothing.
            "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "MICRO_INFRA_ROOT": str(root),
            "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        },
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent)) if bin_dir.name == "bin" else None,
    )
    try:
        stack = auto.create_or_select_stack(env, work_dir=str(root / "infra" / "bootstrap"), opts=options)
        stack.set_config("githubRepository", auto.ConfigValue(boot.repository))
        if not yes:
            changes = stack.preview().change_summary
            console.print(f"bootstrap of {env}: {dict(changes)}", highlight=False, soft_wrap=True)
            if console.input(escape("Apply? [y/N] ")).strip().lower() not in ("y", "yes"):
                fail(f"bootstrap of {env}: not confirmed; nothing was changed", 1)
        result = stack.up()
    except auto.CommandError as exc:
        from infra.engine import engine_message

        fail(f"bootstrap of {env} failed:\n{engine_message(str(exc), [])}", 1)
    outputs = {k: v.value for k, v in result.outputs.items()}
    settings = github_settings(boot, outputs, _stacks(env, root))
    settings["adoptCommands"] = _adopt_commands(env, root, str(outputs.get("subscriptionId", "<subscription-id>")))
    if local and boot.first:
        target = outputs.get("bootstrapBackendUrl", "")
        where, file = "--cwd infra/bootstrap", f"--file bootstrap-{env}.json"
        settings["moveBootstrapState"] = [
            f"PULUMI_BACKEND_URL={url} pulumi stack export {where} --stack {env} {file}",
            f"PULUMI_BACKEND_URL='{target}' pulumi stack init {where} {env}",
            f"PULUMI_BACKEND_URL='{target}' pulumi stack import {where} --stack {env} {file}",
            f"then run bootstrap with --backend '{target}' from now on",
        ]
    if as_json:
        emit_json({"environment": env, "dryRun": False, "outputs": outputs, "github": settings})
    else:
        _print_settings(settings)


def _print_settings(settings: dict[str, Any]) -> None:
    out.print("\nGitHub repository variables (Settings → Secrets and variables → Actions → Variables):")
    for name, value in settings["repositoryVariables"].items():
        out.print(f"  {name} = {value}", highlight=False, soft_wrap=True)
    out.print("GitHub repository secrets:")
    for name, value in settings["repositorySecrets"].items():
        out.print(f"  {name} = {value}", highlight=False, soft_wrap=True)
    for env, spec in settings["environments"].items():
        reviewers = "; required reviewers" if spec["requiredReviewers"] else ""
        out.print(
            f"GitHub environment `{env}` (deployment branches: main{reviewers}):", highlight=False, soft_wrap=True
        )
        for name, value in spec["variables"].items():
            out.print(f"  {name} = {value}", highlight=False, soft_wrap=True)
    out.print("Then give each stack its Key Vault key (and commit the stack files):")
    for line in settings["stackCommands"]:
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    out.print("Before each stack's first `up`, let it adopt the resource groups bootstrap made:")
    for line in settings.get("adoptCommands", []):
        out.print(f"  {line}", highlight=False, soft_wrap=True)
    for line in settings.get("moveBootstrapState", []):
        out.print(f"  {line}", highlight=False, soft_wrap=True)
