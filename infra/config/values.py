"""Single values of an environment that must mean what they look like: names, versions, quantities, schedules.

Each validator takes a string and returns it, or raises ValueError saying what was expected. Every
pattern is ASCII-only (re.ASCII; `\\d` would take Arabic-Indic or fullwidth digits) and anchored at both
ends with fullmatch (`$` alone accepts a trailing newline). Grammars taken from upstream name their source.
"""

from __future__ import annotations

import calendar
import ipaddress
import re
from decimal import Decimal

# --- DNS ------------------------------------------------------------------------------------------

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
"""RFC 1123 §2.1 host name label (letters, digits, hyphens; 63 octets), lowercase as Azure DNS stores it."""
FQDN_MAX = 253
"""RFC 1035 §2.3.4: 255 octets on the wire, 253 characters written without the root dot."""
RESERVED_TLDS = ("localhost", "test", "example", "invalid", "local")
"""RFC 2606 §2 and RFC 6761 §6: names no public DNS serves (`local` is mDNS, RFC 6762)."""


def fqdn(value: str) -> str:
    labels = value.split(".")
    if len(value) > FQDN_MAX or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value!r} is not a lowercase DNS name such as api.m3o.com")
    return value


def zone(value: str) -> str:
    return value if value == "localhost" else fqdn(value)


def wildcard(value: str) -> str:
    if not value.startswith("*."):
        raise ValueError(f"{value!r} is not a wildcard host such as *.m3o.app")
    fqdn(value[2:])
    return value


def is_local_name(name: str) -> bool:
    """Under a reserved top-level domain: resolvable on a laptop at best, never by Let's Encrypt."""
    return name.rsplit(".", 1)[-1] in RESERVED_TLDS


def nested_zones(zones: list[str]) -> list[tuple[str, str]]:
    """(parent, child) for every zone listed inside another listed zone."""
    return [(p, c) for p in zones for c in zones if c != p and c.endswith("." + p)]


# --- versions and image references -----------------------------------------------------------------

_SEMVER = re.compile(
    r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?"
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
"""SemVer 2.0.0 (https://semver.org, "Is there a suggested regular expression"), with the `v` prefix Helm's
Masterminds/semver accepts (cert-manager's charts are versioned v1.21.1). No leading zeros: 01.2.3 is not SemVer."""
MOVING_TAGS = frozenset({"latest", "stable", "edge", "nightly", "main", "master", "head", "dev", "canary"})
"""Tags that name a channel, not a release: they move, so they pin nothing."""

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::(?P<port>[0-9]+))?", re.ASCII)
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
"""github.com/distribution/reference regexp.go: a name is [domain[:port]/]path-component(/path-component)*;
the first part is a domain only when it has a dot or a port, or is localhost (its normalize.go)."""
NAME_MAX = 255
"""distribution/reference: NameTotalLengthMax."""


def semver(value: str) -> str:
    if value.lower() in MOVING_TAGS or not _SEMVER.fullmatch(value):
        raise ValueError(f"{value!r} is not a pinned semantic version such as 1.21.1 or v1.21.1")
    return value


def image_repository(value: str) -> str:
    """An image name without tag or digest, as registries and the container runtime parse it."""
    first, _, rest = value.partition("/")
    has_domain = bool(rest) and ("." in first or ":" in first or first == "localhost")
    path = rest if has_domain else value
    domain = _DOMAIN.fullmatch(first) if has_domain else None
    port = domain["port"] if domain else None
    problem = None
    if len(value) > NAME_MAX:
        problem = f"is longer than {NAME_MAX} characters"
    elif has_domain and domain is None:
        problem = f"has a malformed registry {first!r}"
    elif port is not None and not 1 <= int(port) <= 65535:
        problem = f"has a registry port outside 1-65535 ({port})"
    elif not _PATH.fullmatch(path):
        problem = "is not lowercase path components (a-z, 0-9, separated by . _ __ or -) joined by /"
    if problem:
        raise ValueError(f"{value!r} {problem}; expected an image such as micro/micro or gcr.io/etcd-development/etcd")
    return value


# --- Kubernetes quantities ------------------------------------------------------------------------

_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?")
"""k8s.io/apimachinery/pkg/api/resource/quantity.go, the serialization format: <number><suffix>, suffix a
binary SI (Ki..Ei), decimal SI (n, u, m, "", k..E) or decimal exponent (e3). No sign: a resource is positive."""
QUANTITY_MAX = Decimal(2**63 - 1)
"""quantity.go: "no quantity may represent a number greater than 2^63-1 in magnitude"."""
_FACTORS = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(10) ** e for s, e in (("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9))},
    **{s: Decimal(10) ** e for s, e in (("T", 12), ("P", 15), ("E", 18))},
}
CPU_SUFFIXES = ("", "m")
"""CPU is counted in cores or millicores (Kubernetes docs, "Resource units in Kubernetes"); 1Gi of CPU is a slip."""
MEMORY_SUFFIXES = ("", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti")
"""Memory in bytes, decimal or binary; `500m` would be half a byte."""


def quantity_value(value: str) -> Decimal:
    """The amount a quantity stands for, in base units (cores, bytes)."""
    match = _QUANTITY.fullmatch(value)
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 500m or 2Gi")
    suffix = match["suffix"] or ""
    try:
        exponent = suffix not in _FACTORS  # e3, E-2 (the regex admits nothing else)
        factor = Decimal(10) ** int(suffix[1:]) if exponent else _FACTORS[suffix]
        amount = Decimal(match["number"]) * factor
    except (ArithmeticError, KeyError, ValueError):  # decimal's Overflow and InvalidOperation are ArithmeticErrors
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 500m or 2Gi") from None
    if amount > QUANTITY_MAX:
        raise ValueError(f"{value!r} is larger than a Kubernetes quantity can be (2^63-1)")
    return amount


def resource_quantity(value: str, resource: str) -> str:
    """A request or limit of `resource` (cpu or memory): a positive quantity in that resource's units."""
    amount = quantity_value(value)
    match = _QUANTITY.fullmatch(value)
    suffix = (match["suffix"] if match else None) or ""
    allowed = CPU_SUFFIXES if resource == "cpu" else MEMORY_SUFFIXES
    if suffix not in allowed:
        example = "500m or 2 (cores)" if resource == "cpu" else "512Mi or 2Gi"
        raise ValueError(f"{value!r}: {resource} is not measured in {suffix!r}; write it like {example}")
    if amount <= 0:
        raise ValueError(f"{value!r} is zero; a container needs some {resource}")
    return value


# --- schedules ------------------------------------------------------------------------------------

CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly")
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name.lower(): (i + 1) % 7 for i, name in enumerate(calendar.day_abbr)}
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
"""The five-field crontab. CockroachDB parses RECURRING and FULL BACKUP schedules with github.com/gorhill/cronexpr
(pkg/jobs/scheduled_job.go); this is the common subset of it and POSIX crontab: no seconds, years, L, W or #."""
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def cron(value: str) -> str:
    if value in CRON_DESCRIPTORS:
        return value
    fields = value.split(" ")
    if len(fields) != len(CRON_FIELDS) or not all(fields):
        raise ValueError(
            f"{value!r} is not a crontab schedule: five fields (minute hour day-of-month month day-of-week) "
            f"separated by single spaces, or one of {', '.join(CRON_DESCRIPTORS)}"
        )
    sets = [_cron_field(value, text, *spec) for text, spec in zip(fields, CRON_FIELDS, strict=True)]
    days, months = sets[2], sets[3]
    if fields[4] == "*" and not any(day <= _DAYS_IN_MONTH[month - 1] for day in days for month in months):
        raise ValueError(f"{value!r} never runs: no chosen month has the chosen day")
    return value


def _cron_field(value: str, text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    chosen: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        try:
            if span == "*":
                first, last = low, high
            else:
                start, _, end = span.partition("-")
                first = _cron_number(start, names)
                last = _cron_number(end, names) if end else (high if step_text else first)
            if step_text and not (step_text.isascii() and step_text.isdigit()):
                raise ValueError(step_text)
            step = int(step_text) if step_text else 1
        except ValueError:
            raise ValueError(f"{value!r}: {name} {item!r} is not a number, range, list or step") from None
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(f"{value!r}: {name} {item!r} is outside {low}-{high} (or a range runs backwards)")
        chosen.update(range(first, last + 1, step))
    return chosen


def _cron_number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


# --- addresses, sizes -------------------------------------------------------------------------------

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*", re.ASCII)
"""RFC 5322 §3.4.1 dot-atom local part: no leading, trailing or doubled dots, no quoting, no spaces."""


def email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    problem = None
    if not at or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        problem = "is not an email address such as ops@m3o.dev"
    else:
        try:
            fqdn(domain)
        except ValueError:
            problem = f"has no mail domain ({domain!r} is not a lowercase DNS name)"
        else:
            if is_local_name(domain) or domain.rsplit(".", 1)[-1].isdigit():
                problem = f"is at {domain}, which no public mail server serves; Let's Encrypt refuses it"
    if problem:
        raise ValueError(f"{value!r} {problem}")
    return value


_VM_SIZE = re.compile(
    r"Standard_[A-Z]{1,4}[1-9][0-9]{0,3}(-[1-9][0-9]{0,3})?[a-z]*(_[A-Z0-9][A-Za-z0-9]*)*(_v[1-9][0-9]?)?(_Promo)?",
    re.ASCII,
)
"""The shape of an Azure VM size name (learn.microsoft.com/azure/virtual-machines/vm-naming-conventions):
Standard_ + family and sub-family (capitals) + vCPUs + constrained vCPUs (-N) + additive features (lowercase)
+ accelerator or memory capacity (_A100, _8) + version (_v5). Only the shape: which sizes exist is Azure's list."""


def vm_size(value: str) -> str:
    if not _VM_SIZE.fullmatch(value):
        raise ValueError(f"{value!r} is not shaped like an Azure VM size such as Standard_D4ds_v5")
    return value


def ipv4_range(value: str) -> str:
    """An IPv4 CIDR range as AKS's authorized IP ranges take it, host bits clear (10.0.0.0/8, not 10.0.0.1/8)."""
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 range such as 203.0.113.0/24 ({exc})") from None
    if str(network) != value or "/" not in value:
        raise ValueError(f"{value!r} is not written as a range; write {network}")
    return value
