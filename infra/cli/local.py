"""`infra local up|down`: the `local` stack on a kind cluster `micro`, with a local image registry.

`up` follows kind's local-registry pattern: a `registry` container on 127.0.0.1:5001, a cluster whose
containerd reads per-registry hosts.toml files, a hosts.toml on each node that sends localhost:5001
pulls to the registry container over the `kind` Docker network. Then it runs `up` of the `local`
stack (kubeContext kind-micro). Cluster and registry are reused when they exist. `down` destroys the
stack, then deletes the cluster and the registry container.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from infra.cli.common import console, fail, fail_config
from infra.config.errors import ConfigError

CLUSTER = "micro"


class KindStack(StrEnum):
    """The stacks that run on the kind cluster: zero-dependency `local`, or `parity` on single-member datastores."""

    local = "local"
    parity = "parity"


STACK_OPTION = typer.Option("--stack", help="local (zero-dependency) or parity (datastores); one at a time.")
KUBE_CONTEXT = f"kind-{CLUSTER}"
NODE_IMAGE = "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d"
"""Kubernetes 1.34 (what the manifests are validated against), as published with kind v0.33.0."""
REGISTRY = "kind-registry"
"""Registry container name; the nodes reach it by this name on the `kind` network."""
REGISTRY_IMAGE = "registry:2.8.3"
REGISTRY_HOST = "localhost:5001"
"""Where images are pushed from the laptop and pulled by the cluster."""
REGISTRY_MIRROR = f"http://{REGISTRY}:5000"
KIND_NETWORK = "kind"
CERTS_D = "/etc/containerd/certs.d"

app = typer.Typer(help="A local cluster: kind `micro`, a registry on localhost:5001, the `local` stack.")


def kind_config(node_image: str = NODE_IMAGE) -> str:
    """templates/kind-config.yaml.j2 rendered for cluster `micro` (StrictUndefined: no silent blanks)."""
    from components.kubernetes.edge import KIND_HTTP_NODE_PORT, KIND_HTTPS_NODE_PORT
    from infra.workflows import render

    return render(
        "kind-config.yaml.j2",
        name=CLUSTER,
        node_image=node_image,
        http_node_port=KIND_HTTP_NODE_PORT,
        https_node_port=KIND_HTTPS_NODE_PORT,
        registry_host=REGISTRY_HOST,
        registry_mirror=REGISTRY_MIRROR,
    )


def hosts_toml() -> str:
    """containerd's registry host config for REGISTRY_HOST: pull from the registry container."""
    return f'[host."{REGISTRY_MIRROR}"]\n'


@app.command("up")
def up(
    as_json: Annotated[bool, typer.Option("--json", help="Print only the `up` summary and outputs on stdout.")] = False,
    node_image: Annotated[
        str, typer.Option("--node-image", help="kind node image (pin by digest; it must suit your kind version).")
    ] = NODE_IMAGE,
    stack: Annotated[KindStack, STACK_OPTION] = KindStack.local,
) -> None:
    """Create (or reuse) the registry and the kind cluster `micro`, then run `up` of the `local` stack.

    Needs kind (v0.33 or newer for the default node image) and a running Docker engine.
    """
    from infra.cli import engine_cmds

    _check_local_stack(stack)
    require_tools()
    prepared = engine_cmds.prepare_stack(stack)
    _ensure_registry()
    if CLUSTER in _clusters():
        console.print(f"kind cluster {CLUSTER} exists: reusing it")
    else:
        _create_cluster(kind_config(node_image))
    for node in _lines(_tool("kind", "get", "nodes", "--name", CLUSTER)):
        _tool("docker", "exec", node, "mkdir", "-p", f"{CERTS_D}/{REGISTRY_HOST}")
        hosts = f"{CERTS_D}/{REGISTRY_HOST}/hosts.toml"
        _tool("docker", "exec", "-i", node, "cp", "/dev/stdin", hosts, stdin=hosts_toml())
    if _tool("docker", "inspect", "-f", f"{{{{json .NetworkSettings.Networks.{KIND_NETWORK}}}}}", REGISTRY) == "null":
        _tool("docker", "network", "connect", KIND_NETWORK, REGISTRY)
    result = engine_cmds.run_command(engine_cmds.open_stack(prepared, create=True), "up")
    engine_cmds.report(result, as_json)
    if not as_json:
        console.print(f"images: docker push {REGISTRY_HOST}/<name>:<tag>; kube context: {KUBE_CONTEXT}")


@app.command("down")
def down(
    as_json: Annotated[bool, typer.Option("--json", help="Print only the `destroy` summary on stdout.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm deleting the cluster and its data.")] = False,
    stack: Annotated[KindStack, STACK_OPTION] = KindStack.local,
) -> None:
    """Destroy the `local` (or `parity`) stack, then delete the kind cluster `micro` and the registry container."""
    from infra.cli import engine_cmds
    from infra.engine import EngineError, SetupError

    if not yes:
        fail(f"local down deletes the kind cluster {CLUSTER} and everything in it: pass --yes to confirm")
    _check_local_stack(stack)
    require_tools()
    prepared = engine_cmds.prepare_stack(stack)
    if CLUSTER in _clusters():
        try:
            engine_stack = prepared.open(create=False)
        except SetupError as exc:
            console.print(f"nothing to destroy: {exc}", soft_wrap=True)
        except EngineError as exc:
            fail(str(exc), engine_cmds.ENGINE_FAILED)
        else:
            engine_cmds.report(engine_cmds.run_command(engine_stack, "destroy"), as_json=as_json)
        _tool("kind", "delete", "cluster", "--name", CLUSTER)
        console.print(f"deleted kind cluster {CLUSTER}")
    else:
        console.print(
            f"kind cluster {CLUSTER} does not exist: stack {stack} was not destroyed (its state may still list "
            f"resources; `pulumi stack rm --force {stack}` forgets them)",
            soft_wrap=True,
        )
    if _registry_state() is not None:
        _tool("docker", "rm", "--force", REGISTRY)
        console.print(f"removed registry container {REGISTRY}")


# --- checks ------------------------------------------------------------------------------------------


def _check_local_stack(name: str) -> None:
    """The stack file must be valid and point at this cluster, before anything is created."""
    from infra.config.loader import load_stack

    try:
        stack = load_stack(name)
    except ConfigError as exc:
        fail_config(exc)
    if stack.settings.kube_context != KUBE_CONTEXT:
        fail(f"{stack.file.name}: config.micro-infra:kubeContext must be {KUBE_CONTEXT} for `infra local`")


def require_tools() -> None:
    """kind and a Docker engine the docker CLI can reach; exit 2 naming each one that is missing."""
    problems = []
    if shutil.which("kind") is None:
        problems.append(
            "kind not found on PATH: install kind v0.33 or newer (https://kind.sigs.k8s.io/docs/user/quick-start/"
            "#installation, or `go install sigs.k8s.io/kind@v0.33.0`)"
        )
    docker = shutil.which("docker")
    if docker is None:
        problems.append(
            "docker not found on PATH: install Docker Engine (https://docs.docker.com/engine/install/) "
            "or Docker Desktop"
        )
    else:
        try:
            info = subprocess.run(
                [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=60
            )
            reason = info.stderr.strip().splitlines()[-1] if info.returncode and info.stderr.strip() else ""
            reachable = info.returncode == 0
        except subprocess.TimeoutExpired:
            reason, reachable = "`docker info` timed out", False
        if not reachable:
            problems.append(
                f"docker cannot reach a Docker engine ({reason or 'docker info failed'}): start Docker "
                "(Docker Desktop, or `sudo systemctl start docker`) and check `docker info`"
            )
    if problems:
        fail("\n".join(problems))


# --- docker and kind -------------------------------------------------------------------------------


def _tool(*args: str, stdin: str | None = None) -> str:
    """Run kind or docker; stdout, or exit 1 with the tool's error."""
    try:
        done = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        fail(f"`{' '.join(args)}` timed out", 1)
    if done.returncode != 0:
        fail(f"`{' '.join(args)}` failed: {done.stderr.strip() or done.stdout.strip()}", 1)
    return done.stdout.strip()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _clusters() -> list[str]:
    return _lines(_tool("kind", "get", "clusters"))


def _registry_state() -> str | None:
    """Whether the registry container runs ("true" or "false"), None when there is no such container."""
    done = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", REGISTRY], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _ensure_registry() -> None:
    state = _registry_state()
    if state == "true":
        return
    if state is not None:
        _tool("docker", "start", REGISTRY)
        return
    console.print(f"starting registry {REGISTRY} ({REGISTRY_IMAGE}) on {REGISTRY_HOST}")
    port = REGISTRY_HOST.rsplit(":", 1)[1]
    _tool(
        "docker",
        "run",
        "--detach",
        "--restart=always",
        "--publish",
        f"127.0.0.1:{port}:5000",
        "--network",
        "bridge",
        "--name",
        REGISTRY,
        REGISTRY_IMAGE,
    )


def _create_cluster(config: str) -> None:
    console.print(f"creating kind cluster {CLUSTER} (a few minutes the first time: the node image is pulled)")
    with tempfile.TemporaryDirectory(prefix="micro-kind-") as tmp:
        path = Path(tmp) / "kind-config.yaml"
        path.write_text(config)
        # kind's own progress goes straight to the terminal.
        done = subprocess.run(["kind", "create", "cluster", "--config", str(path), "--wait", "120s"], check=False)
    if done.returncode != 0:
        fail(f"`kind create cluster` failed (exit {done.returncode}); see its output above", 1)
