"""Input that looks right but must be refused: empty values, YAML surprises, values no deployment can use.

Each case is validated, never planned (validation is milliseconds, a plan is seconds), and must fail with
one line naming the file and the key path, so each test fails when its rule is lost.
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.cli.main import app
from infra.config import values
from infra.config.errors import ConfigError
from infra.config.loader import load_environment, load_stack

from .conftest import ROOT

runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder in ("environments", "stacks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def stack_problems(root: Path, stack: str, config: str) -> list[str]:
    """Write stacks/Pulumi.<stack>.yaml with `config` lines under `config:`; the problems loading it reports."""
    lines = "".join(f"  {line}\n" for line in config.strip().splitlines())
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(f"config:\n{lines}")
    try:
        load_stack(stack, root)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


# --- empty values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "check"])
def test_an_empty_stack_flag_is_a_bad_name_not_every_stack(command: str) -> None:
    result = runner.invoke(app, [command, "--stack", ""])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "--stack: '' is not a stack name such as staging or staging-westeurope"


def test_one_commands_json_does_not_carry_over_to_the_next_in_the_same_process(tmp_path: Path) -> None:
    """--json makes errors a JSON document on stdout too; a later command without it writes only its line."""
    comment = str(tmp_path / "missing" / "comment.md")
    earlier = runner.invoke(app, ["preview", "--stack", "local", "--json", "--comment", comment])
    assert earlier.exit_code == 2 and '"exitCode": 2' in earlier.stdout, earlier.output
    later = runner.invoke(app, ["plan", "--stack", ""])
    assert later.exit_code == 2 and later.stdout == "", later.stdout


def test_empty_regions_build_nothing_so_they_are_refused(root: Path) -> None:
    problems = stack_problems(root, "staging", "micro-infra:environment: staging\nmicro-infra:regions: []")
    assert problems == [
        "stacks/Pulumi.staging.yaml: config.micro-infra:regions: "
        "[] builds nothing; leave the key out to build every region of the environment"
    ]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("missing-dir/comment.md", "--comment: {tmp}/missing-dir is not a directory"),
        (".", "--comment: {tmp} is a directory"),
    ],
)
def test_an_unwritable_comment_fails_before_any_work(tmp_path: Path, target: str, expected: str) -> None:
    path = tmp_path / target if target != "." else tmp_path
    result = runner.invoke(app, ["diff", "--base", "HEAD", "--comment", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == expected.format(tmp=tmp_path)


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        ("a\nb", "--out: a\\nb has control characters; name a plain directory"),
        ("x" * 300, "--out: cannot use " + "x" * 300 + " (File name too long)"),
    ],
)
def test_a_render_directory_that_cannot_be_used_fails_before_planning(out: str, expected: str) -> None:
    result = runner.invoke(app, ["render", "--stack", "local", "--out", out])
    assert result.exit_code == 2 and result.stderr.strip() == expected, result.output
    assert not os.path.lexists(out)


# --- stack files: cross-references, control characters, secrets -------------------------------------


@pytest.mark.parametrize(
    ("stack", "config", "expected"),
    [
        (
            "staging-westeurope",
            "micro-infra:environment: staging\nmicro-infra:zonesStack: staging-westeurope",
            "config.micro-infra:zonesStack: staging-westeurope is this stack; name the stack that owns the zones",
        ),
        (
            "staging-westeurope",
            "micro-infra:environment: staging\nmicro-infra:zonesStack: stagingx",
            "config.micro-infra:zonesStack: no stack stagingx (stacks/Pulumi.stagingx.yaml); known stacks: local,",
        ),
        (
            "staging-westeurope",
            "micro-infra:environment: staging\nmicro-infra:zonesStack: platform",
            "config.micro-infra:zonesStack: stack platform is of environment 'platform', not 'staging'",
        ),
        (
            "local",
            "micro-infra:environment: local\nmicro-infra:zonesStack: parity",
            "config.micro-infra:zonesStack: a kind stack owns its localhost zone",
        ),
        (
            "staging",
            "micro-infra:environment: staging\nmicro-infra:regions: [uksouth, uksouth]",
            "config.micro-infra:regions: a region is listed twice (uksouth, uksouth)",
        ),
        (
            "local",
            'micro-infra:environment: local\nmicro-infra:kubeContext: "kind-micro\\n--all"',
            "config.micro-infra:kubeContext: 'kind-micro\\n--all' contains control characters",
        ),
        (
            "local",
            'micro-infra:environment: local\nmicro-infra:kubeContext: " kind-micro"',
            "config.micro-infra:kubeContext: ' kind-micro' has surrounding whitespace",
        ),
        (
            "local",
            'micro-infra:environment: local\nmicro-infra:renderYamlToDirectory: "out\\u0007"',
            "config.micro-infra:renderYamlToDirectory: 'out\\x07' contains control characters",
        ),
        (
            "local",
            'micro-infra:environment: local\nmicro-infra:renderYamlToDirectory: ""',
            "config.micro-infra:renderYamlToDirectory: must not be empty",
        ),
        (
            "staging",
            "micro-infra:environment: staging\nmicro-infra:backupPassphrase:\n  secure: 12345678",
            "config.micro-infra:backupPassphrase.secure: expected the ciphertext `pulumi config set --secret` "
            "writes (got int)",
        ),
        (
            "staging",
            "micro-infra:environment: staging\nmicro-infra:backupPassphrase:\n  secure: ''",
            "config.micro-infra:backupPassphrase.secure: expected the ciphertext",
        ),
        (
            "staging",
            "micro-infra:environment: staging\nazure-native:clientSecret:\n  secure: {nested: map}",
            "config.azure-native:clientSecret.secure: expected the ciphertext",
        ),
        (
            "staging",
            "micro-infra:environment: staging\nazure-native:clientSecret:\n  secure: djE6YWJjZGVm\n  plain: x",
            "config.azure-native:clientSecret: a secure value has the one key `secure`",
        ),
    ],
)
def test_stack_files_that_cannot_deploy(root: Path, stack: str, config: str, expected: str) -> None:
    problems = stack_problems(root, stack, config)
    assert len(problems) == 1 and problems[0].startswith(f"stacks/Pulumi.{stack}.yaml: {expected}"), problems


def test_a_region_stack_takes_its_zones_from_the_primary(root: Path) -> None:
    """The good case the refusals above are measured against; a chained zonesStack is refused."""
    env = root / "environments" / "staging.yaml"
    text = env.read_text()
    region = text[text.index("  - name: uksouth") : text.index("dns:")]
    env.write_text(text.replace("dns:", region.replace("uksouth", "westeurope") + "dns:", 1))
    assert (
        stack_problems(
            root,
            "staging-westeurope",
            "micro-infra:environment: staging\nmicro-infra:zonesStack: staging\nmicro-infra:regions: [westeurope]",
        )
        == []
    )
    problems = stack_problems(
        root, "staging-northeurope", "micro-infra:environment: staging\nmicro-infra:zonesStack: staging-westeurope"
    )
    assert problems == [
        "stacks/Pulumi.staging-northeurope.yaml: config.micro-infra:zonesStack: "
        "stack staging-westeurope takes its zones from 'staging' itself; name the stack that owns them"
    ]


# --- YAML semantics ----------------------------------------------------------------------------------


def env_problems(tmp_path: Path, old: str, new: str, name: str = "staging") -> list[str]:
    """environments/<name>.yaml with the first `old` replaced by `new`; the problems loading it reports."""
    text = (ROOT / "environments" / f"{name}.yaml").read_text()
    assert old in text, old
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(old, new, 1))
    try:
        load_environment(path, f"environments/{name}.yaml")
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def line_of(name: str, text: str) -> int:
    return (ROOT / "environments" / f"{name}.yaml").read_text().splitlines().index(text) + 1


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    members: 3\n    storage_gb: 10\n",
            "    members: 3\n    storage_gb: 10\n    members: 5\n",
            "datastores.etcd.members: line {etcd_members_plus_2}, column 5: duplicate key, first on line "
            "{etcd_members}; YAML would keep one of them silently",
        ),
        (
            "    members: 3\n    storage_gb: 10\n",
            "    members: 3\n    storage_gb: 10\n    <<: {members: 5}\n",
            "datastores.etcd.members: line {etcd_members_plus_2}, column 10: duplicate key (merged in with <<), "
            "first on line {etcd_members}",
        ),
        ("members: 3", "members: yes", "datastores.etcd.members: expected a number or a string, got the boolean True"),
        ("tag: v2.9.3", "tag: on", "release.micro.tag: expected a number or a string, got the boolean True"),
        ("nats: 2.14.2", "nats: no", "release.charts.nats: expected a number or a string, got the boolean False"),
        (
            "tag: v2.9.3",
            "tag: !!binary djIuOS4z",
            "release.micro.tag: line {tag}, column 10: the tag !!binary does not",
        ),
        ("tag: v2.9.3", "tag: !Ref version", "release.micro.tag: line {tag}, column 10: the tag !Ref does not belong"),
        ("zones: [m3o.dev]", "zones: !!set {m3o.dev}", "dns.zones: line {zones}, column 10: the tag !!set does not"),
        ("start_hour: 21", "start_hour: 0x15", "regions[0].cluster.maintenance.start_hour: Input should be a valid"),
        ("start_hour: 21", "start_hour: '21:00'", "regions[0].cluster.maintenance.start_hour: Input should be a valid"),
    ],
)
def test_yaml_that_means_something_else(tmp_path: Path, old: str, new: str, expected: str) -> None:
    members = line_of("staging", "    members: 3")
    lines = {
        "etcd_members": members,
        "etcd_members_plus_2": members + 2,
        "tag": line_of("staging", "    tag: v2.9.3"),
        "zones": line_of("staging", "  zones: [m3o.dev]"),
    }
    problems = env_problems(tmp_path, old, new)
    assert len(problems) == 1, problems
    assert problems[0].startswith("environments/staging.yaml: " + expected.format(**lines)), problems


def test_yaml_12_numbers_and_booleans_where_they_belong(tmp_path: Path) -> None:
    """010 is ten (YAML 1.2), not octal eight (1.1); no still means false where a boolean belongs."""
    text = (ROOT / "environments" / "staging.yaml").read_text()
    path = tmp_path / "staging.yaml"
    path.write_text(
        text.replace("storage_gb: 10\n", "storage_gb: 010\n", 1).replace("local_accounts: false", "local_accounts: no")
    )
    env = load_environment(path, "environments/staging.yaml")
    assert env.datastores is not None and env.datastores.etcd.storage_gb == 10
    assert env.regions[0].cluster is not None and env.regions[0].cluster.local_accounts is False


# --- values that look right but cannot deploy ---------------------------------------------------------

BAD_VALUES = [
    # cron schedules (CockroachDB's RECURRING clause)
    ('schedule: "@hourly"', 'schedule: "61 * * * *"', "datastores.cockroach.backup.schedule: '61 * * * *': minute"),
    ('schedule: "@hourly"', 'schedule: "0 3 * *"', "datastores.cockroach.backup.schedule: '0 3 * *' is not a crontab"),
    ('full_schedule: "@daily"', 'full_schedule: "0 0 30 2 *"', "datastores.cockroach.backup.full_schedule: '0 0 30 2"),
    ('schedule: "@hourly"', 'schedule: "@every 1h"', "datastores.cockroach.backup.schedule: '@every 1h' is not a"),
    # Kubernetes quantities
    ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: 0m, memory: 512Mi}", "requests.cpu: '0m' is zero"),
    ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: 250m, memory: 500m}", "requests.memory: '500m': memory"),
    ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: 2Gi, memory: 512Mi}", "requests.cpu: '2Gi': cpu is not"),
    ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: \u0662\u0665\u0660m, memory: 512Mi}", "requests.cpu: '"),
    ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: '2', memory: 512Mi}", "requests.cpu: 2 is above limits"),
    ('limits: {cpu: "1", memory: 2Gi}', "limits: {cpu: 1e999999999, memory: 2Gi}", "limits.cpu: '1e999999999' is not"),
    (
        'limits: {cpu: "1", memory: 2Gi}',
        'limits: {cpu: "1", memory: 9000000Ei}',
        "limits.memory: '9000000Ei' is larger",
    ),
    ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: 250m, memory: 3Gi}", "requests.memory: 3Gi is above"),
    # DNS names
    ("api: api.m3o.dev", 'api: "api.m3o.dev\\n"', "dns.hosts.api: 'api.m3o.dev\\n' is not a lowercase DNS name"),
    ("api: api.m3o.dev", 'api: " api.m3o.dev"', "dns.hosts.api: ' api.m3o.dev' is not a lowercase DNS name"),
    ("zones: [m3o.dev]", "zones: [m3o.dev, api.m3o.dev]", "dns.zones: api.m3o.dev lies inside m3o.dev; a zone inside"),
    ("zones: [m3o.dev]", "zones: [m3o.dev, localhost]", "dns.zones[1]: localhost is not served by public DNS"),
    # IP ranges, versions, pins
    (
        "local_accounts: false",
        "local_accounts: false\n      authorized_ip_ranges: [10.0.0.1/8]",
        "authorized_ip_ranges[0]",
    ),
    (
        "local_accounts: false",
        "local_accounts: false\n      authorized_ip_ranges: [300.0.0.0/8]",
        "authorized_ip_ranges[0]",
    ),
    (
        'kubernetes_version: "1.34"',
        'kubernetes_version: "1.\u0663\u0664"',
        "regions[0].cluster.kubernetes_version: String",
    ),
    ("nats: 2.14.2", "nats: 2.14.\u0662", "release.charts.nats: '2.14.\u0662' is not a pinned semantic version"),
    ("nats: 2.14.2", "nats: 02.14.2", "release.charts.nats: '02.14.2' is not a pinned semantic version"),
    ("nats: 2.14.2", "nats: Latest", "release.charts.nats: 'Latest' is not a pinned semantic version"),
    ("tag: v2.9.3", "tag: LATEST", "release.micro.tag: 'LATEST' is not a pin"),
    ("tag: v2.9.3", "tag: Stable", "release.micro.tag: 'Stable' is not a pin"),
    ("repository: micro/micro", "repository: Micro/micro", "release.micro.repository: 'Micro/micro' is not lowercase"),
    (
        "repository: micro/micro",
        "repository: reg.io:70000/micro",
        "release.micro.repository: 'reg.io:70000/micro' has a",
    ),
    ("repository: micro/micro", "repository: micro//micro", "release.micro.repository: 'micro//micro' is not"),
    (
        "repository: micro/micro",
        "repository: -reg.io/micro",
        "release.micro.repository: '-reg.io/micro' has a malformed",
    ),
    # zones a region spreads over
    ('zones: ["1", "2", "3"]', "zones: []", "regions[0].zones: List should have at least 1 item"),
    ('zones: ["1", "2", "3"]', 'zones: ["1", "1", "2"]', "regions[0].zones: a zone is listed twice (1, 1, 2)"),
    # e-mail, VM sizes
    ("email: ops@m3o.dev", "email: ops..team@m3o.dev", "acme.email: 'ops..team@m3o.dev' is not an email address"),
    ("email: ops@m3o.dev", "email: ops@m3o.test", "acme.email: 'ops@m3o.test' is at m3o.test, which no public mail"),
    ("email: ops@m3o.dev", 'email: "ops@m3o.dev "', "acme.email: 'ops@m3o.dev ' has no mail domain"),
    ("vm_size: Standard_D2ds_v5", "vm_size: Standard_D2DS_V5", "system_pool.vm_size: 'Standard_D2DS_V5' is not shaped"),
    ("vm_size: Standard_D2ds_v5", "vm_size: standard_d2ds_v5", "system_pool.vm_size: 'standard_d2ds_v5' is not shaped"),
    # Shaped right, but not in the table of sizes whose temp disk is known to hold an ephemeral OS disk.
    (
        "vm_size: Standard_D2ds_v5",
        "vm_size: Standard_NC24ads_A100_v4",
        "system_pool.vm_size: 'Standard_NC24ads_A100_v4' is not an allowed",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD_VALUES)
def test_values_that_cannot_deploy(tmp_path: Path, old: str, new: str, expected: str) -> None:
    problems = env_problems(tmp_path, old, new)
    assert len(problems) == 1, problems
    assert expected in problems[0] and problems[0].startswith("environments/staging.yaml: "), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("members: 1", "members: 3", "datastores.etcd.members: a kind cluster has one node and members need one each"),
        (
            "replicas: 1",
            "replicas: 2",
            "micro.replicas: a kind cluster has one node and replicas need one each (got 2)",
        ),
    ],
)
def test_kind_counts_fit_one_node(tmp_path: Path, old: str, new: str, expected: str) -> None:
    problems = env_problems(tmp_path, old, new, name="parity")
    assert problems == [f"environments/parity.yaml: {expected}" + ("" if "(got" in expected else " (got 3)")]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('schedule: "@hourly"', 'schedule: "*/15 1-5,22 * JAN-DEC mon-fri"'),
        ("repository: micro/micro", "repository: localhost:5001/micro/micro"),
        ("nats: 2.14.2", "nats: 2.14.2-rc.1+build.5"),
        (
            "local_accounts: false",
            "local_accounts: false\n      authorized_ip_ranges: [203.0.113.0/24, 198.51.100.7/32]",
        ),
        # Any size of the model's table (infra/config/model.py VM_SIZES) whose temp disk holds the OS disk.
        ("vm_size: Standard_D2ds_v5", "vm_size: Standard_D16ds_v5"),
        ("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: '1', memory: 2Gi}"),
    ],
)
def test_values_that_deploy_still_load(tmp_path: Path, old: str, new: str) -> None:
    """The refusals above are narrow: these spellings are what the upstream grammars allow."""
    assert env_problems(tmp_path, old, new) == []


# --- messages: the key path survives any key, and a problem is one line ---------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  etcd:\n", '  etcd:\n    "limits[0]": 1\n', 'datastores.etcd["limits[0]"]: unknown key'),
        (
            "micro:\n",
            'micro:\n  services: {"api.v2": {replicas: 2}}\n',
            'micro.services["api.v2"]: not a micro v2 service',
        ),
        ("name: staging\n", 'name: staging\n"dns.zones": [x]\n', '["dns.zones"]: unknown key'),
        ("name: staging\n", 'name: staging\n"a\\nb: c": 1\n', '["a\\nb: c"]: unknown key'),
        ("name: staging\n", 'name: staging\n"\\u202eevil": 1\n', '["\\u202eevil"]: unknown key'),
    ],
)
def test_unusual_keys_keep_their_key_path_on_one_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    problems = env_problems(tmp_path, old, new)
    assert len(problems) == 1 and "\n" not in problems[0], problems
    assert problems[0].startswith(f"environments/staging.yaml: {expected}"), problems


def test_unusual_stack_keys_keep_their_key_path(root: Path) -> None:
    problems = stack_problems(root, "local", 'micro-infra:environment: local\n"micro-infra:kube[Context]": x\n"a.b": 1')
    assert problems == [
        'stacks/Pulumi.local.yaml: config["a.b"]: unknown key (expected micro-infra:<key>)',
        'stacks/Pulumi.local.yaml: config["micro-infra:kube[Context]"]: unknown key (a stack file sets '
        "micro-infra: environment, regions, zonesStack, renderYamlToDirectory, helmReleases, kubeContext, "
        "backupPassphrase)",
    ]


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [("500m", "0.5"), ("2", "2"), ("1.5Gi", str(3 * 2**29)), ("1Ei", str(2**60)), ("2E", "2e18"), ("1e3", "1000")],
)
def test_quantities_are_read_as_kubernetes_reads_them(quantity: str, amount: str) -> None:
    """Requests are compared with limits by value: the suffixes must mean what quantity.go says."""
    assert values.quantity_value(quantity) == Decimal(amount)
