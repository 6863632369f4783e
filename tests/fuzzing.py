"""Generated bad input for the loader and the model, shared by tests/test_fuzz.py and `make fuzz`.

Four targets, each a hypothesis strategy and a check that runs in memory (no files, no plans):

- `environment`: a committed environment with one to three mutations (wrong types, unknown keys, deleted
  keys, injection-like and unicode strings, huge values, deep nesting, near misses of valid values such as
  a trailing newline, an upper-case letter or Arabic-Indic digits), validated as the loader validates it;
  one case in YAML_EVERY also goes through YAML text and the YAML loader.
- `stack`: a committed stack file mutated the same way, plus stack-specific values (zonesStack, regions,
  kubeContext, secure values), validated against the committed environments.
- `raw`: bytes no dump of a mapping produces (anchors, alias bombs, binary, invalid UTF-8, huge files).
- `yaml`: committed environment text with a YAML construct spliced in (duplicate or merged keys, tags,
  YAML 1.1 booleans, control characters).

Every case must end `loaded` or `rejected` (a ConfigError whose every line names the file and, unless the
whole file is at fault, a key path). Anything else is counted as `bad-message`, `crashed` or `slow`.

`python -m tests.fuzzing --cases 20000` (`make fuzz`) runs the four targets with a random seed and prints
the counts by outcome; it exits 1 when any case is neither loaded nor cleanly rejected.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.config.errors import ConfigError
from infra.config.loader import MAX_BYTES, environment_from_data, parse_yaml, stack_from_data

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("local", "parity", "staging", "platform")
OK = ("loaded", "rejected")
"""The outcomes the contract allows."""
LOAD_SECONDS = 20.0
"""Upper bound for one case (milliseconds on an idle machine): nothing a user writes may make validation hang."""
YAML_EVERY = 20
"""One environment case in this many also goes through YAML text (a parse costs ~10x a validation)."""
FILE_LEVEL = re.compile(
    r"file not found|cannot be read|bytes; the limit is|is not UTF-8 text|is binary|line \d+, column \d+|"
    r"is not valid YAML|is empty|expected a mapping at the top level|no such stack|not a stack name"
)
"""Problems that concern the whole file, so they name no key path."""
ENVIRONMENT = re.compile(r"^environments/[a-z][a-z0-9]{1,11}\.yaml$")
"""A stack file names its environment; a problem there is reported under the environment's file."""


def committed(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


ENVIRONMENTS = {name: committed(f"environments/{name}.yaml") for name in NAMES}
STACKS = {name: committed(f"stacks/Pulumi.{name}.yaml") for name in NAMES}
TEXTS = {name: (ROOT / "environments" / f"{name}.yaml").read_text() for name in NAMES}

# --- values --------------------------------------------------------------------------------------------

INJECTIONS = ["; rm -rf /", "$(id)", "`id`", "../../etc/passwd", "{{ 7*7 }}", "${HOME}", "a\nb: c", "x\x00y", "%s%n"]
# Homoglyphs (Cyrillic a, fullwidth m, Roman numeral M), right-to-left override, emoji, byte order mark.
UNICODE = [
    "\u0430pi.m3o.dev",
    "api.m3o.dev\u202e",
    "\u202eved.o3m",
    "\U0001f4a5.m3o.dev",
    "\uff4d3o.dev",
    "\u216fmicro",
    "\ufeffstaging",
]
HUGE = [10**40, -(10**40), 1e308, float("inf"), float("nan"), 2**63, "x" * 20_000, "1e999999999", "9" * 400 + "Gi"]
STACK_VALUES = [
    [],
    ["uksouth", "uksouth"],
    "staging",
    "platform",
    "nosuch",
    "kind-micro\n--all",
    " kind-micro",
    "out\x07",
    {"secure": 5},
    {"secure": ""},
    {"secure": "djE6YWJjZGVmZ2g="},
    {"secure": "djE6YWJjZGVmZ2g=", "plain": 1},
]
ARABIC_DIGITS = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def deep(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def near_misses(value: Any) -> list[Any]:
    """Values one slip away from `value`: often accepted by a lax check, always wrong for a deployment."""
    if isinstance(value, bool):
        return [not value, "yes", 1]
    if isinstance(value, int):
        return [0, -value, value * 1000, True, str(value), str(value).translate(ARABIC_DIGITS)]
    if isinstance(value, str):
        return [
            value + "\n",
            " " + value,
            value.upper(),
            value.capitalize(),
            value.translate(ARABIC_DIGITS),
            value + ".",
            value.replace(".", "..", 1),
            "0" + value,
            "",
        ]
    return [None]


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(INJECTIONS + UNICODE + HUGE + STACK_VALUES).map(copy.deepcopy),  # later mutations edit it
    st.builds(deep, st.integers(min_value=5, max_value=200)),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
BAD_KEYS = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(INJECTIONS + UNICODE), st.integers())
STACK_KEYS = st.sampled_from(
    ["regions", "zonesStack", "kubeContext", "renderYamlToDirectory", "backupPassphrase", "helmReleases"]
).map(lambda key: f"micro-infra:{key}")


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into `data` (mapping keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += paths(value, (*prefix, index))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], stack: bool = False) -> dict[str, Any]:
    """`base` with one to three mutations at random key paths: replace, near miss, delete, add a key."""
    data = copy.deepcopy(base)
    leaves = [p for p in paths(data) if isinstance(_parent(data, p)[p[-1]], (str, int))]
    if leaves and draw(st.integers(min_value=0, max_value=3)) == 0:
        # One slip in one value: the class of input that looks right and must still be refused.
        path = draw(st.sampled_from(leaves))
        _parent(data, path)[path[-1]] = draw(st.sampled_from(near_misses(_parent(data, path)[path[-1]])))
        return data
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = paths(data)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["replace", "replace", "delete", "unknown-key", "stack-key"]))
        if action == "replace":
            parent[path[-1]] = draw(BAD_VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "stack-key" and stack and isinstance(data.get("config"), dict):
            data["config"][draw(STACK_KEYS)] = draw(BAD_VALUES)
        elif isinstance(parent, dict):
            parent[draw(BAD_KEYS)] = draw(BAD_VALUES)
    return data


def raw_text() -> st.SearchStrategy[bytes]:
    """Files no dump of a mapping produces."""
    bomb = "a: &a [x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    return st.one_of(
        st.sampled_from(
            [
                b"",
                b"\n\n# only a comment\n",
                b"---\n...\n",
                b"\x00\x01\x02binary",
                b"\xff\xfe\xfd not utf-8",
                bomb.encode(),
                b"name: &n staging\nother: *n\n",
                b"[" * 1000,
                b"{" * 1000 + b"}" * 1000,
                b"- just\n- a\n- list\n",
                b"just a string",
                b"42",
                b"name: staging\nname: twice\n",
                b"? [complex, key]\n: value\n",
                b"name: !!python/object/apply:os.system ['id']\n",
                b"name: !!binary c3RhZ2luZw==\n",
                b"<<: {name: a}\nname: b\n",
                b'key: "unterminated\n',
                b"\t name: tabs\n",
                b"a" * (MAX_BYTES + 1),
            ]
        ),
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


SPLICES = [
    "name: {name}\n",
    "<<: {{name: {name}}}\n",
    "cloud: yes\n",
    "extra: !!binary aGk=\n",
    "extra: !!timestamp 2001-12-14\n",
    "extra: !Ref other\n",
    "extra: !!set {{a, b}}\n",
    "extra: &x 1\n",
    "extra: 0x1F\n",
    "extra: 1:30\n",
    "extra: 2024-01-01\n",
    "extra: \x1b[31mred\n",
    "extra: \u202eevil\n",
    '"a\\nb": 1\n',
    '"a[0]": 1\n',
]
LINE_EDITS = [
    ("members: 1", "members: yes"),
    ("members: 3", "members: on"),
    ("replicas: 2", "replicas: no"),
    ("tag: v2.9.3", "tag: off"),
    ("storage_gb: 10", "storage_gb: 010"),
    ("start_hour: 21", "start_hour: 0o25"),
    ("zones: [m3o.dev]", "zones: [m3o.dev, m3o.dev]"),
    ("    members: 3\n", "    members: 3\n    members: 5\n"),
    ("  etcd:\n", "  etcd:\n    <<: {members: 9}\n"),
]


@st.composite
def yaml_text(draw: st.DrawFn) -> tuple[str, bytes]:
    """(environment name, its committed text with a construct spliced in at a line start, or a line edited)."""
    name = draw(st.sampled_from(NAMES))
    text = TEXTS[name]
    if draw(st.booleans()):
        old, new = draw(st.sampled_from([e for e in LINE_EDITS if e[0] in TEXTS[name]]))
        return name, text.replace(old, new, 1).encode()
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(min_value=0, max_value=len(lines)))
    indent = " " * draw(st.sampled_from([0, 0, 2, 4]))
    splice = indent + draw(st.sampled_from(SPLICES)).format(name=name)
    return name, "".join([*lines[:at], splice, *lines[at:]]).encode()


# --- outcomes ------------------------------------------------------------------------------------------


def outcome(display: str, action: Callable[[], Any]) -> tuple[str, str]:
    """(outcome, detail) of one case: loaded, rejected, bad-message, crashed or slow."""
    started = time.monotonic()
    try:
        action()
    except ConfigError as exc:
        result = ("rejected", "")
        lines = str(exc).split("\n")
        if not exc.problems or len(lines) != len(exc.problems):
            result = ("bad-message", f"a problem spans several lines: {str(exc)[:300]!r}")
        for line, problem in zip(lines, exc.problems, strict=False):
            if not (problem.file == display or ENVIRONMENT.match(problem.file)):
                result = ("bad-message", f"{line[:300]!r} names no file at fault")
            elif not line.startswith(f"{problem.file}: "):
                result = ("bad-message", f"{line[:300]!r} does not start with the file")
            elif not (problem.path or FILE_LEVEL.search(problem.message)):
                result = ("bad-message", f"{line[:300]!r} names no key path")
    except Exception as exc:  # the point of fuzzing: anything else is a bug to report, not to hide
        result = ("crashed", f"{type(exc).__name__}: {str(exc)[:300]}")
    else:
        result = ("loaded", "")
    if time.monotonic() - started > LOAD_SECONDS:
        result = ("slow", f"{display} took {time.monotonic() - started:.1f} s")
    return result


class Tally:
    """Outcome counts of one target, and the first few cases that broke the contract."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        """A few changed inputs that loaded (environments only), for a plan to prove the program builds them."""

    def add(self, result: tuple[str, str]) -> None:
        self.counts[result[0]] += 1
        if result[0] not in OK and len(self.failures) < 10:
            self.failures.append(f"{self.target}: {result[0]}: {result[1]}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        shown = ", ".join(f"{self.counts[o]} {o}" for o in (*OK, "bad-message", "crashed", "slow") if self.counts[o])
        return f"{self.target}: {self.total} cases: {shown}"


# --- the four targets ------------------------------------------------------------------------------------


def check_environment(name: str, data: dict[str, Any], through_yaml: bool) -> tuple[str, str]:
    display = f"environments/{name}.yaml"
    if through_yaml:
        text = yaml.safe_dump(data, allow_unicode=True).encode()
        return outcome(display, lambda: environment_from_data(parse_yaml(text, display), display, name))
    return outcome(display, lambda: environment_from_data(data, display, name))


def check_stack(name: str, data: dict[str, Any]) -> tuple[str, str]:
    display = f"stacks/Pulumi.{name}.yaml"
    return outcome(display, lambda: stack_from_data(name, data, display, ROOT))


def check_raw(target: str, content: bytes) -> tuple[str, str]:
    if target.startswith("environments/"):
        return outcome(target, lambda: environment_from_data(parse_yaml(content, target), target, "staging"))
    return outcome(target, lambda: stack_from_data("staging", parse_yaml(content, target), target, ROOT))


def check_yaml(name: str, content: bytes) -> tuple[str, str]:
    display = f"environments/{name}.yaml"
    return outcome(display, lambda: environment_from_data(parse_yaml(content, display), display, name))


@contextmanager
def environments_parsed_once() -> Iterator[None]:
    """Stack cases vary the stack file; the committed environment each one names is parsed once, not per case
    (a parse costs ~30 validations). Errors are remembered too, so a case naming no environment still fails."""
    from infra.config import loader

    original = loader.load_environment
    memo: dict[tuple[str, str | None], Any] = {}

    def once(path: Path, display: str | None = None) -> Any:
        key = (str(path), display)
        if key not in memo:
            try:
                memo[key] = original(path, display)
            except ConfigError as exc:
                memo[key] = exc
        if isinstance(memo[key], ConfigError):
            raise memo[key]
        return memo[key]

    loader.load_environment = once  # type: ignore[assignment]
    try:
        yield
    finally:
        loader.load_environment = original  # type: ignore[assignment]


def run(cases: dict[str, int], derandomize: bool, seed: int | None = None) -> dict[str, Tally]:
    """Run each target for its number of cases; the tallies by target."""
    tallies = {target: Tally(target) for target in cases}
    options = settings(
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    def seeded(test: Callable[..., None]) -> Callable[..., None]:
        from hypothesis import seed as fixed_seed

        return fixed_seed(seed)(test) if seed is not None and not derandomize else test

    counter = {"n": 0}

    @settings(options, max_examples=max(1, cases.get("environment", 0)))
    @given(name=st.sampled_from(NAMES), data=st.data())
    def environments(name: str, data: st.DataObject) -> None:
        counter["n"] += 1
        mutation = data.draw(mutated(ENVIRONMENTS[name]))
        result = check_environment(name, mutation, counter["n"] % YAML_EVERY == 0)
        tallies["environment"].add(result)
        if result[0] == "loaded" and mutation != ENVIRONMENTS[name] and len(tallies["environment"].accepted) < 5:
            tallies["environment"].accepted.append((name, mutation))

    @settings(options, max_examples=max(1, cases.get("stack", 0)))
    @given(name=st.sampled_from(NAMES), data=st.data())
    def stacks(name: str, data: st.DataObject) -> None:
        tallies["stack"].add(check_stack(name, data.draw(mutated(STACKS[name], stack=True))))

    @settings(options, max_examples=max(1, cases.get("raw", 0)))
    @given(content=raw_text(), target=st.sampled_from(["environments/staging.yaml", "stacks/Pulumi.staging.yaml"]))
    def raw(content: bytes, target: str) -> None:
        tallies["raw"].add(check_raw(target, content))

    @settings(options, max_examples=max(1, cases.get("yaml", 0)))
    @given(case=yaml_text())
    def texts(case: tuple[str, bytes]) -> None:
        tallies["yaml"].add(check_yaml(*case))

    with environments_parsed_once():
        for target, test in (("environment", environments), ("stack", stacks), ("raw", raw), ("yaml", texts)):
            if cases.get(target):
                seeded(test)()
    return tallies


SHARES = {"environment": 0.6, "stack": 0.15, "raw": 0.15, "yaml": 0.1}
"""How `make fuzz` splits its cases: validation is cheap, parsing costs more."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases in all (default 20000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = parser.parse_args(argv)
    cases = {target: max(1, round(args.cases * share)) for target, share in SHARES.items()}
    started = time.monotonic()
    tallies = run(cases, derandomize=False, seed=args.seed)
    total: Counter[str] = Counter()
    for tally in tallies.values():
        print(tally.summary())
        total.update(tally.counts)
    print(
        f"all: {sum(total.values())} cases in {time.monotonic() - started:.0f} s: "
        + ", ".join(f"{total[o]} {o}" for o in (*OK, "bad-message", "crashed", "slow"))
    )
    failures = [f for tally in tallies.values() for f in tally.failures]
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
