"""Read environment and stack files into typed models, or fail with every problem at once.

YAML here is data written by people: anchors and aliases are refused (they are how alias
bombs are built, and nothing in these files needs them), so are duplicate keys and tags
that build objects (`!!binary`, timestamps); files are regular files, size-capped before
they are read, and the top level must be a mapping. Nothing is deployed before these checks pass.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from infra.config.errors import ConfigError, Problem, from_validation, key_path
from infra.config.model import Environment, Region

MAX_BYTES = 256 * 1024
PROJECT = "micro-infra"
STACK_NAME = re.compile(r"^[a-z][a-z0-9]{1,11}(-[a-z][a-z0-9]{1,19})?$")
_FOREIGN_NAMESPACES = ("azure-native:", "kubernetes:", "pulumi:")
SECRET_KEYS = ("backupPassphrase",)
"""Stack keys that hold secrets; a stack file may only carry them as `secure:` values."""


def repo_root() -> Path:
    """Where Pulumi.yaml, environments/ and stacks/ live: $MICRO_INFRA_ROOT, else the checkout you stand in.

    Like pulumi and git, the project is found from the current directory upward: the nearest
    Pulumi.yaml whose `name` is micro-infra. Never the checkout the package was installed from, so
    a second clone or a worktree plans and edits its own files. Raises ProjectNotFound (exit 2).
    """
    override = os.environ.get("MICRO_INFRA_ROOT")
    if override is not None:
        root = Path(override)
        if not override or not root.is_dir():
            raise ProjectNotFound([Problem("MICRO_INFRA_ROOT", "", f"{override!r} is not a directory")])
        return root
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / "Pulumi.yaml"
        if not os.path.lexists(candidate):
            continue
        try:
            name = read_yaml(candidate).get("name")
        except ConfigError:
            continue  # unreadable or not a project file: keep looking, as for any other project's
        if name == PROJECT:
            return folder
    raise ProjectNotFound(
        [
            Problem(
                str(here),
                "",
                f"not inside a {PROJECT} checkout (no Pulumi.yaml with `name: {PROJECT}` here or above); "
                "cd into one, or set MICRO_INFRA_ROOT",
            )
        ]
    )


class ProjectNotFound(ConfigError):
    """No project to act on: outside a checkout, or MICRO_INFRA_ROOT names no directory."""


_YAML = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(_YAML + t for t in ("str", "int", "float", "bool", "null", "map", "seq")) | {"!"}
"""Explicit tags a configuration value may carry; `!!binary`, `!!timestamp`, `!!set`, `!!python/...` and local
`!tags` build objects that no key of these files takes."""
_DECIMAL = re.compile(r"^[-+]?[0-9]+$")
"""YAML 1.2's core integers: 010 is ten, and 0x1F, 0o17, 1_000 and 1:30 (sexagesimal) stay strings."""


class _Refused(yaml.MarkedYAMLError):
    """A construct refused here, with the key path it sits at."""

    def __init__(self, problem: str, mark: Any, path: list[str | int]) -> None:
        super().__init__(None, None, problem, mark)
        self.path = list(path)


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader for configuration: no anchors or aliases, no duplicate keys (`<<` merges included), no
    tags beyond plain values, and neither timestamps nor YAML 1.1's octal, hex or sexagesimal integers."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag not in (_YAML + "timestamp", _YAML + "int")]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.path: list[str | int] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(index, yaml.ScalarNode):
            self.path.append(index.value)
        elif isinstance(index, int):
            self.path.append(index)
        try:
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                what = "aliases" if isinstance(event, yaml.AliasEvent) else "anchors"
                raise _Refused(f"YAML {what} are not allowed in micro-infra files", event.start_mark, self.path)
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _ALLOWED_TAGS:
                shown = "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
                raise _Refused(f"the tag {shown} does not belong in configuration", event.start_mark, self.path)
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.MappingNode):
                self._check_keys(node)
            return node
        finally:
            if isinstance(index, (yaml.ScalarNode, int)):
                self.path.pop()

    def _check_keys(self, node: yaml.MappingNode) -> None:
        """Refuse a key written twice, or written and also merged in with `<<` (YAML keeps one silently)."""
        seen: dict[Any, tuple[int, bool]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _YAML + "merge":
                merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                keys = [(k, True) for m in merged if isinstance(m, yaml.MappingNode) for k, _ in m.value]
            else:
                keys = [(key_node, False)]
            for key, via_merge in keys:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                value = self.construct_object(key)
                line = key.start_mark.line + 1
                if value in seen:
                    first, first_merged = seen[value]
                    how = " (merged in with <<)" if via_merge or first_merged else ""
                    raise _Refused(
                        f"duplicate key{how}, first on line {first}; YAML would keep one of them silently",
                        key.start_mark,
                        [*self.path, str(value)],
                    )
                seen[value] = (line, via_merge)


for _first in "-+0123456789":
    _ConfigLoader.yaml_implicit_resolvers.setdefault(_first, []).append((_YAML + "int", _DECIMAL))


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    assert isinstance(node, yaml.ScalarNode)
    return int(str(loader.construct_scalar(node)), 10)


_ConfigLoader.add_constructor(_YAML + "int", _decimal)


def read_file(path: Path, display: str | None = None) -> bytes:
    """The bytes of the regular file at `path`, at most MAX_BYTES, or a ConfigError.

    The file is stat'ed before it is opened: a FIFO would block the open forever and a device
    such as /dev/zero never ends, so anything but a regular file (after symlinks) is refused
    unopened, and the size cap holds before a byte is read. The open is non-blocking and the
    read bounded, in case the file is swapped between the stat and the open.
    """
    name = display or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ConfigError([Problem(name, "", f"is a dangling symlink (to {os.readlink(path)})")]) from None
        raise ConfigError([Problem(name, "", "file not found")]) from None
    except OSError as exc:
        raise ConfigError([Problem(name, "", f"cannot be read ({exc.strerror})")]) from None
    _regular(name, info.st_mode)
    if info.st_size > MAX_BYTES:
        raise ConfigError([Problem(name, "", f"is {info.st_size} bytes; the limit is {MAX_BYTES}")])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ConfigError([Problem(name, "", f"cannot be read ({exc.strerror})")]) from None
    with os.fdopen(fd, "rb") as handle:
        _regular(name, os.fstat(handle.fileno()).st_mode)
        try:
            raw = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise ConfigError([Problem(name, "", f"cannot be read ({exc.strerror})")]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem(name, "", f"is over {MAX_BYTES} bytes; the limit is {MAX_BYTES}")])
    return raw


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _regular(name: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((label for test, label in _KINDS if test(mode)), "not a file")
        raise ConfigError([Problem(name, "", f"is {kind}, not a regular file")])


def read_yaml(path: Path, display: str | None = None) -> dict[str, Any]:
    """A YAML mapping from `path`, or a ConfigError naming the file and what is wrong with it."""
    name = display or str(path)
    return parse_yaml(read_file(path, name), name)


def parse_yaml(raw: bytes, name: str) -> dict[str, Any]:
    """The mapping a file's bytes hold, under the rules of this module's docstring."""
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem(name, "", f"is {len(raw)} bytes; the limit is {MAX_BYTES}")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([Problem(name, "", "is not UTF-8 text")]) from None
    if "\x00" in text:
        raise ConfigError([Problem(name, "", "is binary, not YAML")])
    try:
        data = yaml.load(text, Loader=_ConfigLoader)
    except _Refused as exc:
        mark = exc.problem_mark
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([Problem(name, key_path(exc.path), f"{line}{exc.problem}")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([Problem(name, "", f"{where}{exc.problem or exc.context}")]) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ConfigError([Problem(name, "", f"is not valid YAML ({type(exc).__name__})")]) from None
    if data is None:
        raise ConfigError([Problem(name, "", "is empty; expected a mapping of keys")])
    if not isinstance(data, dict):
        raise ConfigError([Problem(name, "", f"expected a mapping at the top level, got {type(data).__name__}")])
    return data


def load_environment(path: Path, display: str | None = None) -> Environment:
    name = display or str(path)
    stem = path.stem if path.suffix in (".yaml", ".yml") else None
    return environment_from_data(read_yaml(path, name), name, stem)


def environment_from_data(data: dict[str, Any], display: str, stem: str | None = None) -> Environment:
    """An environment from a file's parsed content; `stem`, the file name it must carry as `name`."""
    try:
        env = Environment.model_validate(data)
    except ValidationError as exc:
        raise from_validation(display, exc, data=data) from None
    if stem is not None and stem != env.name:
        raise ConfigError([Problem(display, "name", f"{env.name!r} must match the file name {stem!r}")])
    return env


def _no_control(value: str) -> str:
    """A name or path handed to kubectl or the file system: one line, nothing invisible."""
    if not value.strip():
        raise ValueError("must not be empty")
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} contains control characters")
    if value != value.strip():
        raise ValueError(f"{value!r} has surrounding whitespace")
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
Printable = Annotated[str, AfterValidator(_no_control)]
RegionName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,39}$")]


class StackSettings(BaseModel):
    """The `micro-infra:` keys of a stack file: which environment, and how this engine run behaves."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: str = Field(pattern=r"^[a-z][a-z0-9]{1,11}$")
    """The file environments/<environment>.yaml that describes this stack."""
    regions: list[RegionName] | None = None
    """Only these regions of the environment; a region stack names one. Absent means all; [] is an error."""
    zones_stack: str | None = Field(default=None, alias="zonesStack", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    """The stack that owns the DNS zones; set on region stacks, which only add records."""
    render_yaml_to_directory: Printable | None = Field(default=None, alias="renderYamlToDirectory")
    """Write Kubernetes manifests here instead of applying them (offline runs of the real engine)."""
    helm_releases: bool = Field(default=True, alias="helmReleases")
    """False skips Helm charts, which need the chart repositories (unreachable offline)."""
    kube_context: Printable | None = Field(default=None, alias="kubeContext")
    """kubeconfig context of a kind cluster; cloud stacks build their provider from AKS."""
    backup_passphrase: Any = Field(default=None, alias="backupPassphrase")
    """CockroachDB backup encryption passphrase; must be a `secure:` value."""

    @field_validator("regions")
    @classmethod
    def _once_each(cls, regions: list[str] | None) -> list[str] | None:
        if regions == []:
            raise ValueError("[] builds nothing; leave the key out to build every region of the environment")
        if regions is not None and len(set(regions)) != len(regions):
            raise ValueError(f"a region is listed twice ({', '.join(regions)})")
        return regions


_SECURE = re.compile(r"[A-Za-z0-9+/=:._-]{8,}")
"""A Pulumi ciphertext: `v1:<nonce>:<data>` (passphrase provider) or base64 (cloud KMS, Pulumi Cloud)."""


def _secure_problems(display: str, config: dict[str, Any]) -> list[Problem]:
    """`secure:` values must be ciphertext strings, as `pulumi config set --secret` writes them."""
    problems = []
    for key, value in config.items():
        if not (isinstance(value, dict) and "secure" in value):
            continue
        secret = value["secure"]
        if set(value) != {"secure"}:
            problems.append(Problem(display, key_path(("config", key)), "a secure value has the one key `secure`"))
        elif not isinstance(secret, str) or not _SECURE.fullmatch(secret):
            problems.append(
                Problem(
                    display,
                    key_path(("config", key, "secure")),
                    f"expected the ciphertext `pulumi config set --secret` writes (got {type(secret).__name__})",
                )
            )
    return problems


@dataclass(frozen=True)
class Stack:
    name: str
    file: Path
    settings: StackSettings
    environment: Environment
    config: dict[str, Any]
    """Every config key of the stack file, as Pulumi config (`project:key` → raw YAML value)."""

    @property
    def regions(self) -> list[Region]:
        """The environment's regions this stack builds, in the environment's order."""
        chosen = self.settings.regions
        return [r for r in self.environment.regions if chosen is None or r.name in chosen]


def stack_file(stack: str, root: Path | None = None) -> Path:
    return (root or repo_root()) / "stacks" / f"Pulumi.{stack}.yaml"


def stack_names(root: Path | None = None) -> list[str]:
    """Every stacks/Pulumi.<name>.yaml entry, whatever it is: a broken one fails when it is loaded."""
    return _entries((root or repo_root()) / "stacks", "stacks/", "Pulumi.", ".yaml")


def environment_names(root: Path | None = None) -> list[str]:
    """Every environments/<name>.yaml entry."""
    return _entries((root or repo_root()) / "environments", "environments/", "", ".yaml")


def _entries(folder: Path, display: str, prefix: str, suffix: str) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
    except OSError as exc:
        raise ConfigError([Problem(display, "", f"cannot be listed ({exc.strerror})")]) from None
    return sorted(
        name[len(prefix) : -len(suffix)]
        for name in names
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix) and name[0] != "."
    )


def copy_inputs(root: Path, dest: Path) -> None:
    """environments/*.yaml and stacks/Pulumi.*.yaml of `root` into `dest`, each read as the loader reads it.

    Only those files, never a whole folder: a FIFO, a socket or an unreadable directory lying
    elsewhere under stacks/ must not hang or break the copy, and a broken stack file fails cleanly.
    """
    for folder, names, pattern in (
        ("environments", environment_names(root), "{}.yaml"),
        ("stacks", stack_names(root), "Pulumi.{}.yaml"),
    ):
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            rel = f"{folder}/{pattern.format(name)}"
            (dest / rel).write_bytes(read_file(root / rel, rel))


def check_stack_name(stack: str) -> None:
    if not STACK_NAME.fullmatch(stack):
        raise ConfigError(
            [Problem("--stack", "", f"{stack!r} is not a stack name such as staging or staging-westeurope")]
        )


def load_stack(stack: str, root: Path | None = None) -> Stack:
    """A committed stack: stacks/Pulumi.<stack>.yaml and the environment it names, validated."""
    check_stack_name(stack)
    root = root or repo_root()
    path = stack_file(stack, root)
    display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    if not os.path.lexists(path):
        known = stack_names(root)
        raise ConfigError([Problem(display, "", f"no such stack; known stacks: {', '.join(known)}")])
    return stack_from_data(stack, read_yaml(path, display), display, root)


def stack_from_data(stack: str, data: dict[str, Any], display: str, root: Path) -> Stack:
    """A stack from its file's parsed content; the environment it names is read from `root`."""
    path = stack_file(stack, root)
    unknown_top = set(data) - {"config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment"}
    problems = [
        Problem(display, key_path((key,)), "unknown key (expected config)") for key in sorted(unknown_top, key=str)
    ]
    config = data.get("config")
    if not isinstance(config, dict):
        raise ConfigError([*problems, Problem(display, "config", "expected a mapping of project:key values")])
    config = {str(k): v for k, v in config.items()}
    for key in SECRET_KEYS:
        secret = config.get(f"{PROJECT}:{key}")
        if secret is not None and not (isinstance(secret, dict) and set(secret) == {"secure"}):
            message = "must be a secure value (pulumi config set --secret)"
            problems.append(Problem(display, f"config.{PROJECT}:{key}", message))
    problems += _secure_problems(display, config)
    return _stack(stack, path, display, config, problems, root)


def stack_from_engine(stack: str, config: dict[str, Any], root: Path | None = None) -> Stack:
    """The stack as the real engine hands it over: config values as strings, secrets decrypted."""
    root = root or repo_root()
    path = stack_file(stack, root)
    parsed = {k: _engine_value(v) for k, v in config.items()}
    return _stack(stack, path, f"stack {stack} (config)", parsed, [], root)


def _engine_value(value: Any) -> Any:
    if (isinstance(value, str) and value[:1] in ("[", "{")) or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _stack(stack: str, path: Path, display: str, config: dict[str, Any], problems: list[Problem], root: Path) -> Stack:
    ours: dict[str, Any] = {}
    for key, value in config.items():
        if key.startswith(PROJECT + ":"):
            ours[key.removeprefix(PROJECT + ":")] = value
        elif not key.startswith(_FOREIGN_NAMESPACES):
            problems.append(Problem(display, key_path(("config", key)), "unknown key (expected micro-infra:<key>)"))
    settings = None
    try:
        settings = StackSettings.model_validate(ours)
    except ValidationError as exc:
        keys = ", ".join(f.alias or name for name, f in StackSettings.model_fields.items())
        unknown = f"unknown key (a stack file sets {PROJECT}: {keys})"
        problems += from_validation(display, exc, ("config",), ours, f"{PROJECT}:", unknown).problems
    if problems or settings is None:
        raise ConfigError(problems)
    env_path = root / "environments" / f"{settings.environment}.yaml"
    env = load_environment(env_path, str(env_path.relative_to(root)))
    _check_regions(display, settings, env)
    _check_zones_stack(stack, display, settings, env, root)
    return Stack(stack, path, settings, env, config)


def _check_regions(display: str, settings: StackSettings, env: Environment) -> None:
    if settings.regions is None:
        return
    names = {r.name for r in env.regions}
    missing = [r for r in settings.regions if r not in names]
    if missing:
        raise ConfigError(
            [
                Problem(
                    display,
                    f"config.{PROJECT}:regions",
                    f"{', '.join(missing)} not in environments/{env.name}.yaml (has {', '.join(sorted(names))})",
                )
            ]
        )


def _check_zones_stack(stack: str, display: str, settings: StackSettings, env: Environment, root: Path) -> None:
    """zonesStack names another existing stack of the same Azure environment, one that owns its zones."""
    owner = settings.zones_stack
    if owner is None:
        return
    if not env.is_cloud:
        problem = "a kind stack owns its localhost zone; only Azure region stacks take zones from another stack"
    elif owner == stack:
        problem = f"{owner} is this stack; name the stack that owns the zones (the environment's primary stack)"
    elif not os.path.lexists(stack_file(owner, root)):
        problem = f"no stack {owner} (stacks/Pulumi.{owner}.yaml); known stacks: {', '.join(stack_names(root))}"
    else:
        rel = f"stacks/Pulumi.{owner}.yaml"
        config = read_yaml(stack_file(owner, root), rel).get("config")
        config = config if isinstance(config, dict) else {}
        named, chained = config.get(f"{PROJECT}:environment"), config.get(f"{PROJECT}:zonesStack")
        if named != settings.environment:
            problem = f"stack {owner} is of environment {named!r}, not {settings.environment!r}"
        elif chained is not None:
            problem = f"stack {owner} takes its zones from {chained!r} itself; name the stack that owns them"
        else:
            return
    raise ConfigError([Problem(display, f"config.{PROJECT}:zonesStack", problem)])
