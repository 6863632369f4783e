"""etcd, NATS and CockroachDB: sizing from the environment, TLS wiring, isolation, backups, schemas.

Each component is built alone under traceable mocks from the real environment files, with a fake
CloudBindings for the cloud stacks and a marker secret as the backup passphrase.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.kubernetes import cockroach, etcd, nats
from components.kubernetes.contracts import COCKROACH_SA, SERVER_NAMESPACE, CloudBindings, Endpoint
from infra.config.loader import load_environment
from infra.config.model import Backup, Environment
from infra.plan.engine import Graph, Registration
from tests.conftest import ROOT, component_graph, k8s
from tests.k8s_schema import manifest, validate

ENVIRONMENTS = ("parity", "staging", "platform")
ISSUER = "micro-internal-ca"
MARKER = "s3cr3t-marker"
ACCOUNT, CONTAINER = "m3obackups", "cockroach-backups"
CLOUD = CloudBindings(
    subscription_id="sub",
    tenant_id="tenant",
    resource_group="rg-micro",
    dns_zones={},
    cert_manager_client_id="cert-manager-client",
    public_ip_names={},
    backup_account=ACCOUNT,
    backup_container=CONTAINER,
    cockroach_client_id="cockroach-client-id",
)
CERTIFICATE = "cert-manager.io/v1:Certificate"


@cache
def environment(name: str) -> Environment:
    return load_environment(ROOT / Path(f"environments/{name}.yaml"))


@dataclass
class Built:
    graph: Graph
    endpoint: Endpoint


@cache
def build(store: str, env_name: str, enabled: bool = True, passphrase: bool = True) -> Built:
    """One datastore component for one environment, as platform.py would call it."""
    env = environment(env_name)
    zones: list[str] = list(env.regions[0].zones)
    stores = env.datastores
    made: dict[str, Any] = {}

    def program() -> None:
        if store == "etcd":
            made["c"] = etcd.EtcdCluster(
                "etcd",
                etcd.EtcdClusterArgs(image=env.release.etcd.ref, store=stores.etcd, zones=zones, ca_issuer=ISSUER),
            )
        elif store == "nats":
            made["c"] = nats.NatsCluster(
                "nats",
                nats.NatsClusterArgs(
                    version=env.release.charts.nats, store=stores.nats, zones=zones, ca_issuer=ISSUER, enabled=enabled
                ),
            )
        else:
            made["c"] = cockroach.CockroachCluster(
                "cockroach",
                cockroach.CockroachClusterArgs(
                    version=env.release.charts.cockroachdb,
                    store=stores.cockroach,
                    zones=zones,
                    ca_issuer=ISSUER,
                    cloud=CLOUD if env.is_cloud else None,
                    backup_passphrase=pulumi.Output.secret(MARKER) if passphrase else None,
                    enabled=enabled,
                ),
            )

    graph = component_graph(program)
    return Built(graph, made["c"].endpoint)


def one(graph: Graph, kind: str, name: str | None = None) -> Registration:
    found = k8s(graph, kind, name=name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def values(graph: Graph, type_: str) -> dict[str, Any]:
    (release,) = graph.of_type(type_)
    return release.inputs["values"]


def members(env_name: str, store: str) -> int:
    return int(getattr(environment(env_name).datastores, store).members)


def certificates(graph: Graph) -> dict[str, dict[str, Any]]:
    """Certificate spec by the Secret it writes."""
    return {r.inputs["spec"]["secretName"]: r.inputs["spec"] for r in k8s(graph, CERTIFICATE)}


def etcd_flag(statefulset: Registration, flag: str) -> str:
    args = statefulset.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    found = [a.split("=", 1)[1] for a in args if a.startswith(f"--{flag}=")]
    assert len(found) == 1, f"{statefulset.name}: --{flag} given {len(found)} times"
    return found[0]


# --- sizing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_etcd_members_spread_and_budget_follow_the_environment(env_name: str) -> None:
    graph = build("etcd", env_name).graph
    n = members(env_name, "etcd")
    sts = one(graph, "apps/v1:StatefulSet", "etcd")
    spec = sts.inputs["spec"]
    assert spec["replicas"] == n, f"{sts.name}: replicas {spec['replicas']} != members {n}"
    assert spec["podManagementPolicy"] == "Parallel", f"{sts.name} must start all members together"
    spread = {c["topologyKey"]: c for c in spec["template"]["spec"].get("topologySpreadConstraints", [])}
    pdbs = k8s(graph, "policy/v1:PodDisruptionBudget")
    if n == 1:
        assert spread == {}, f"{sts.name}: one member has nothing to spread"
        assert pdbs == [], "a single etcd member must not get a PodDisruptionBudget"
        return
    zone = spread["topology.kubernetes.io/zone"]
    assert (zone["maxSkew"], zone["whenUnsatisfiable"]) == (1, "DoNotSchedule"), f"{sts.name}: zone spread {zone}"
    assert zone["minDomains"] == len(environment(env_name).regions[0].zones), f"{sts.name}: not over every zone"
    assert zone["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"], "spread must count etcd pods"
    assert "kubernetes.io/hostname" in spread, f"{sts.name}: no hostname spread"
    (pdb,) = pdbs
    assert pdb.inputs["spec"]["maxUnavailable"] == 1, f"{pdb.name}: maxUnavailable"
    assert pdb.inputs["spec"]["selector"] == spec["selector"], f"{pdb.name} does not select the etcd pods"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_nats_cluster_size_spread_and_budget_follow_the_environment(env_name: str) -> None:
    chart = values(build("nats", env_name).graph, "kubernetes:helm.sh/v4:Chart")
    n = members(env_name, "nats")
    clustered = n > 1
    assert chart["config"]["cluster"]["enabled"] is clustered, "routes only with more than one member"
    assert chart["config"]["cluster"]["replicas"] == n
    assert chart["podDisruptionBudget"]["enabled"] is clustered, "PDB only when there is a quorum"
    spread = chart["podTemplate"]["topologySpreadConstraints"]
    if clustered:
        zone = spread["topology.kubernetes.io/zone"]
        assert (zone["maxSkew"], zone["whenUnsatisfiable"]) == (1, "DoNotSchedule"), f"nats zone spread {zone}"
        assert "kubernetes.io/hostname" in spread
    else:
        assert spread == {}


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cockroach_size_spread_and_budget_follow_the_environment(env_name: str) -> None:
    chart = values(build("cockroach", env_name).graph, "kubernetes:helm.sh/v3:Release")
    n = members(env_name, "cockroach")
    sts = chart["statefulset"]
    assert sts["replicas"] == n
    assert sts["budget"] == {"maxUnavailable": 1}
    zone = sts["topologySpreadConstraints"]
    assert (zone["topologyKey"], zone["maxSkew"]) == ("topology.kubernetes.io/zone", 1)
    # kind nodes carry no zone label: a hard zone constraint would leave the pod unschedulable there.
    assert zone["whenUnsatisfiable"] == ("DoNotSchedule" if n > 1 else "ScheduleAnyway")
    assert sts["podAntiAffinity"]["type"] == ("hard" if n > 1 else "soft")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_volumes_use_the_environment_storage_class_and_size(env_name: str) -> None:
    stores = environment(env_name).datastores
    sts = one(build("etcd", env_name).graph, "apps/v1:StatefulSet", "etcd")
    (claim,) = sts.inputs["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == stores.etcd.storage_class, f"{sts.name} storage class"
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{stores.etcd.storage_gb}Gi", f"{sts.name} size"
    pvc = values(build("nats", env_name).graph, "kubernetes:helm.sh/v4:Chart")["config"]["jetstream"]["fileStore"][
        "pvc"
    ]
    assert (pvc["storageClassName"], pvc["size"]) == (stores.nats.storage_class, f"{stores.nats.storage_gb}Gi")
    volume = values(build("cockroach", env_name).graph, "kubernetes:helm.sh/v3:Release")["storage"]["persistentVolume"]
    assert (volume["storageClass"], volume["size"]) == (
        stores.cockroach.storage_class,
        f"{stores.cockroach.storage_gb}Gi",
    )


def test_etcd_quota_stays_below_the_volume_and_the_ceiling() -> None:
    assert etcd.quota_backend_bytes(1) == int(0.8 * 1024**3)
    assert etcd.quota_backend_bytes(100) == 8 * 1024**3


# --- TLS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_etcd_peer_tls_flags_read_the_mounted_certificate_secrets(env_name: str) -> None:
    graph = build("etcd", env_name).graph
    certs = certificates(graph)
    sts = one(graph, "apps/v1:StatefulSet", "etcd")
    pod = sts.inputs["spec"]["template"]["spec"]
    secret_of_volume = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["mountPath"]: secret_of_volume.get(m["name"]) for m in pod["containers"][0]["volumeMounts"]}
    for flag in ("peer-cert-file", "peer-key-file", "peer-trusted-ca-file"):
        directory = etcd_flag(sts, flag).rsplit("/", 1)[0]
        assert mounts.get(directory) == "etcd-peer-tls", f"{sts.name}: --{flag} is not read from etcd-peer-tls"
    assert "etcd-peer-tls" in certs and etcd_flag(sts, "peer-client-cert-auth") == "true"
    assert etcd_flag(sts, "listen-peer-urls").startswith("https://")
    waits_for = {graph.by_urn(urn).name for urn in sts.dependencies}
    assert {"etcd-server-certificate", "etcd-peer-certificate"} <= waits_for, f"{sts.name} must wait for its certs"
    server = certs["etcd-server-tls"]
    assert "etcd-client.etcd.svc.cluster.local" in server["dnsNames"]
    assert {"server auth"} <= set(server["usages"])


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_nats_routes_keep_mutual_tls(env_name: str) -> None:
    graph = build("nats", env_name).graph
    certs = certificates(graph)
    block = values(graph, "kubernetes:helm.sh/v4:Chart")["config"]["cluster"]["tls"]
    assert block["enabled"] is True and block["secretName"] == "nats-cluster-tls", f"nats route TLS {block}"
    assert "nats-cluster-tls" in certs
    assert block["merge"] == {"ca_file": f"{block['dir']}/ca.crt", "verify": True}
    assert "nats.nats.svc.cluster.local" in certs["nats-server-tls"]["dnsNames"]
    assert "*.nats-headless" in certs["nats-cluster-tls"]["dnsNames"], "routes dial nats-N.nats-headless"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cockroach_chart_certificates_come_from_the_internal_ca(env_name: str) -> None:
    tls = values(build("cockroach", env_name).graph, "kubernetes:helm.sh/v3:Release")["tls"]
    assert tls["enabled"] is True and tls["certs"]["selfSigner"]["enabled"] is False
    assert tls["certs"]["certManager"] is True
    assert tls["certs"]["certManagerIssuer"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": ISSUER,
        "isSelfSignedIssuer": False,
    }


@pytest.mark.parametrize(("store", "env_name"), [(s, e) for s in ("etcd", "nats", "cockroach") for e in ENVIRONMENTS])
def test_every_certificate_is_issued_by_the_given_issuer(store: str, env_name: str) -> None:
    graph = build(store, env_name).graph
    for cert in k8s(graph, CERTIFICATE):
        ref = cert.inputs["spec"]["issuerRef"]
        assert ref == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": ISSUER}, f"{cert.name}: {ref}"
        assert cert.inputs["metadata"]["namespace"] == store, f"{cert.name} is not in namespace {store}"


# --- endpoints and isolation ---------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_endpoints_name_the_client_services(env_name: str) -> None:
    built = build("etcd", env_name)
    ep = built.endpoint
    service, namespace = ep.host.split(".")[:2]
    assert ep.host == f"{service}.{namespace}.svc.cluster.local" and namespace == ep.namespace == "etcd"
    svc = one(built.graph, "core/v1:Service", service)
    assert svc.inputs["metadata"]["namespace"] == ep.namespace
    assert [p["port"] for p in svc.inputs["spec"]["ports"]] == [ep.port] == [2379]
    headless = one(built.graph, "core/v1:Service", "etcd-headless")
    assert headless.inputs["spec"]["clusterIP"] == "None" and headless.inputs["spec"]["publishNotReadyAddresses"]

    built = build("nats", env_name)
    (chart,) = built.graph.of_type("kubernetes:helm.sh/v4:Chart")
    ep = built.endpoint
    assert ep.host == f"{chart.inputs['values']['fullnameOverride']}.{chart.inputs['namespace']}.svc.cluster.local"
    assert ep.port == chart.inputs["values"]["config"]["nats"]["port"] == 4222 and ep.namespace == "nats"

    built = build("cockroach", env_name)
    (release,) = built.graph.of_type("kubernetes:helm.sh/v3:Release")
    ep = built.endpoint
    public = f"{release.inputs['values']['fullnameOverride']}-public"
    assert ep.host == f"{public}.{release.inputs['namespace']}.svc.cluster.local"
    assert (ep.port, ep.namespace, ep.client_user) == (26257, "cockroach", "root")


@pytest.mark.parametrize(("store", "env_name"), [(s, e) for s in ("etcd", "nats", "cockroach") for e in ENVIRONMENTS])
def test_network_policy_admits_clients_from_server_only(store: str, env_name: str) -> None:
    built = build(store, env_name)
    policy = one(built.graph, "networking.k8s.io/v1:NetworkPolicy")
    spec = policy.inputs["spec"]
    assert policy.inputs["metadata"]["namespace"] == built.endpoint.namespace
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress"], f"{policy.name} must cover every pod"
    client_rules = []
    for rule in spec["ingress"]:
        assert rule.get("from"), f"{policy.name}: a rule without `from` admits everyone"
        for peer in rule["from"]:
            assert "ipBlock" not in peer, f"{policy.name} admits an IP block"
            if "namespaceSelector" in peer:
                assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": SERVER_NAMESPACE}}
                client_rules.append(rule)
            else:
                assert peer == {"podSelector": {}}, f"{policy.name}: only its own pods besides server"
    (client_rule,) = client_rules
    assert client_rule["ports"] == [{"protocol": "TCP", "port": built.endpoint.port}], f"{policy.name}: client port"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_etcd_initial_cluster_lists_exactly_the_members(env_name: str) -> None:
    sts = one(build("etcd", env_name).graph, "apps/v1:StatefulSet", "etcd")
    peers = dict(p.split("=", 1) for p in etcd_flag(sts, "initial-cluster").split(","))
    n = members(env_name, "etcd")
    assert list(peers) == [f"etcd-{i}" for i in range(n)], f"{sts.name}: --initial-cluster {peers}"
    for member, url in peers.items():
        assert url == f"https://{member}.etcd-headless.etcd.svc.cluster.local:2380"
    assert etcd_flag(sts, "name") == "$(POD_NAME)"


# --- chart mechanics -----------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_each_datastore_uses_the_helm_mechanism_its_chart_needs(env_name: str) -> None:
    assert not [r for r in build("etcd", env_name).graph.registrations if "helm.sh" in r.type], "etcd has no chart"
    nats_graph = build("nats", env_name).graph
    assert len(nats_graph.of_type("kubernetes:helm.sh/v4:Chart")) == 1
    assert nats_graph.of_type("kubernetes:helm.sh/v3:Release") == []
    graph = build("cockroach", env_name).graph
    (release,) = graph.of_type("kubernetes:helm.sh/v3:Release")
    assert graph.of_type("kubernetes:helm.sh/v4:Chart") == [], "v4 Chart would skip cockroach's init hook"
    assert release.inputs["waitForJobs"] is True, f"{release.name} must wait for the init Job"
    assert (release.inputs["chart"], release.inputs["version"]) == (
        "cockroachdb",
        environment(env_name).release.charts.cockroachdb,
    )


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_disabled_charts_keep_namespace_certificates_and_policy(env_name: str) -> None:
    graph = build("nats", env_name, enabled=False).graph
    assert graph.of_type("kubernetes:helm.sh/v4:Chart") == []
    assert set(certificates(graph)) == {"nats-server-tls", "nats-cluster-tls"}
    one(graph, "core/v1:Namespace", "nats")
    one(graph, "networking.k8s.io/v1:NetworkPolicy")
    graph = build("cockroach", env_name, enabled=False).graph
    assert [r.type for r in graph.registrations if r.type.startswith("kubernetes:")] == [
        "kubernetes:core/v1:Namespace",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    ], "without the release only the namespace and its policy remain"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cockroach_workload_identity_only_in_the_cloud(env_name: str) -> None:
    sts = values(build("cockroach", env_name).graph, "kubernetes:helm.sh/v3:Release")["statefulset"]
    account = sts["serviceAccount"]
    assert (account["create"], account["name"]) == (True, COCKROACH_SA.name)
    if environment(env_name).is_cloud:
        assert sts["labels"]["azure.workload.identity/use"] == "true", "pods must get the injected identity"
        assert account["annotations"] == {"azure.workload.identity/client-id": CLOUD.cockroach_client_id}
    else:
        assert "azure.workload.identity/use" not in sts["labels"] and "annotations" not in account


def test_nats_box_is_left_out() -> None:
    assert values(build("nats", "platform").graph, "kubernetes:helm.sh/v4:Chart")["natsBox"] == {"enabled": False}


# --- backups -------------------------------------------------------------------------------------

SCHEDULE = Backup(schedule="@hourly", full_schedule="@daily", retention_days=30)


def test_backup_sql_targets_the_container_and_encrypts_only_with_a_passphrase() -> None:
    plain = cockroach.backup_schedule_sql("acct", "ctr", SCHEDULE, encrypted=False)
    drop, create = plain.split("; ", 1)
    assert drop == "DROP SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'micro_backups'"
    assert create.startswith("CREATE SCHEDULE micro_backups FOR BACKUP INTO "), "re-created, so changes converge"
    assert "'azure-blob://ctr?AZURE_ACCOUNT_NAME=acct&AUTH=implicit'" in plain
    assert "RECURRING '@hourly' FULL BACKUP '@daily'" in plain
    assert "first_run = 'now'" in plain and "ignore_existing_backups" in plain
    assert "encryption_passphrase" not in plain
    encrypted = cockroach.backup_schedule_sql("acct", "ctr", SCHEDULE, encrypted=True)
    assert "WITH encryption_passphrase = '${PASSPHRASE_SQL}' RECURRING" in encrypted
    assert "BACKUP_PASSPHRASE" in cockroach.backup_script(encrypted, encrypted=True)
    assert "PASSPHRASE" not in cockroach.backup_script(plain, encrypted=False)


@pytest.mark.parametrize("env_name", ["staging", "platform"])
def test_backup_job_runs_the_schedule_sql_for_the_cloud_bindings(env_name: str) -> None:
    graph = build("cockroach", env_name).graph
    job = one(graph, "batch/v1:Job", "cockroach-backup-schedule")
    backup = environment(env_name).datastores.cockroach.backup
    assert backup is not None
    sql = cockroach.backup_schedule_sql(ACCOUNT, CONTAINER, backup, encrypted=True)
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == cockroach.backup_script(sql, encrypted=True), f"{job.name} SQL"
    assert container["image"] == cockroach.BACKUP_IMAGE
    assert job.inputs["metadata"]["annotations"] == {"backup.m3o.com/retention-days": str(backup.retention_days)}
    client = certificates(graph)[cockroach.BACKUP_CLIENT_SECRET]
    assert client["commonName"] == "root" and "client auth" in client["usages"], "schedules need the root user"
    volume, passphrase = job.inputs["spec"]["template"]["spec"]["volumes"]
    assert volume["projected"]["sources"][0]["secret"]["name"] == cockroach.BACKUP_CLIENT_SECRET
    assert passphrase["secret"] == {"secretName": cockroach.PASSPHRASE_SECRET, "defaultMode": 0o400}
    waits_for = {graph.by_urn(urn).type.split(":")[-1] for urn in job.dependencies}
    assert {"Release", "Certificate", "Secret"} <= waits_for, f"{job.name} must wait for release, cert, passphrase"
    assert job.delete_before_replace, "a changed schedule replaces the Job under the same name"


def test_unencrypted_backups_have_no_passphrase_anywhere() -> None:
    graph = build("cockroach", "staging", passphrase=False).graph
    assert k8s(graph, "core/v1:Secret") == []
    (container,) = one(graph, "batch/v1:Job").inputs["spec"]["template"]["spec"]["containers"]
    assert "encryption_passphrase" not in container["command"][-1] and not container.get("env")
    assert [v["name"] for v in one(graph, "batch/v1:Job").inputs["spec"]["template"]["spec"]["volumes"]] == [
        "client-certs"
    ]


def test_kind_has_no_backups() -> None:
    graph = build("cockroach", "parity").graph
    assert k8s(graph, "batch/v1:Job") == [] and k8s(graph, "core/v1:Secret") == []


@pytest.mark.parametrize("env_name", ["staging", "platform"])
def test_passphrase_reaches_only_its_secret(env_name: str) -> None:
    graph = build("cockroach", env_name).graph
    for r in graph.registrations:
        assert MARKER not in json.dumps(r.inputs), f"{r.name}: the passphrase is visible in the plan"
    secret = one(graph, "core/v1:Secret", cockroach.PASSPHRASE_SECRET)
    assert secret.raw_inputs()["stringData"] == {cockroach.PASSPHRASE_KEY: MARKER}, "the Secret holds the passphrase"
    holders = [r.name for r in graph.registrations if MARKER in json.dumps(r.raw_inputs())]
    assert holders == [secret.name], f"the passphrase reaches {holders}, not only its Secret"
    (container,) = one(graph, "batch/v1:Job").inputs["spec"]["template"]["spec"]["containers"]
    assert "env" not in container, "the passphrase is a file, never an environment variable"
    mount = {"name": "backup-passphrase", "mountPath": cockroach.PASSPHRASE_DIR, "readOnly": True}
    assert mount in container["volumeMounts"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_backup_image_matches_the_pinned_chart(env_name: str) -> None:
    assert environment(env_name).release.charts.cockroachdb == cockroach.BACKUP_IMAGE_CHART, (
        f"{env_name}: cockroachdb chart moved; update BACKUP_IMAGE to its app version"
    )


# --- every object --------------------------------------------------------------------------------

BUILT_IN = ("Namespace", "Service", "StatefulSet", "PodDisruptionBudget", "NetworkPolicy", "Job", "Secret")


def built_in_objects(graph: Graph) -> list[Registration]:
    return [r for r in graph.registrations if r.type.startswith("kubernetes:") and r.type.split(":")[-1] in BUILT_IN]


@pytest.mark.parametrize(("store", "env_name"), [(s, e) for s in ("etcd", "nats", "cockroach") for e in ENVIRONMENTS])
def test_built_in_objects_match_the_kubernetes_schema(store: str, env_name: str) -> None:
    objects = built_in_objects(build(store, env_name).graph)
    assert objects, f"{store}/{env_name} declares no built-in objects"
    for r in objects:
        obj = manifest(r)
        if r.type.endswith(":Secret"):  # masked as a whole; validate its shape with the keys revealed
            obj["stringData"] = {key: "x" for key in r.raw_inputs()["stringData"]}
        validate(obj)


@pytest.mark.parametrize(("store", "env_name"), [(s, e) for s in ("etcd", "nats", "cockroach") for e in ENVIRONMENTS])
def test_objects_are_named_labelled_and_namespaced(store: str, env_name: str) -> None:
    for r in build(store, env_name).graph.registrations:
        if not r.type.startswith("kubernetes:") or "helm.sh" in r.type:
            continue
        meta = r.inputs["metadata"]
        assert meta.get("name"), f"{r.name} is auto-named"
        if not r.type.endswith(":Namespace"):
            assert meta.get("namespace") == store, f"{r.name} is not in namespace {store}"
        labels = meta.get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "micro", f"{r.name} labels {labels}"
        assert labels.get("app.kubernetes.io/managed-by") == "pulumi", f"{r.name} labels {labels}"
        assert labels.get("app.kubernetes.io/name") == store, f"{r.name} labels {labels}"


def hardened(container: dict[str, Any], where: str) -> None:
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, f"{where}: runs as root"
    assert context["readOnlyRootFilesystem"] is True, f"{where}: writable root filesystem"
    assert context["allowPrivilegeEscalation"] is False, f"{where}: privilege escalation"
    assert context["capabilities"] == {"drop": ["ALL"]}, f"{where}: capabilities"
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}, f"{where}: seccomp"
    assert {"requests", "limits"} <= set(container["resources"]), f"{where}: no requests/limits"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_container_is_hardened(env_name: str) -> None:
    for store in ("etcd", "cockroach"):
        for r in k8s(build(store, env_name).graph, "apps/v1:StatefulSet") + k8s(
            build(store, env_name).graph, "batch/v1:Job"
        ):
            pod = r.inputs["spec"]["template"]["spec"]
            assert pod["automountServiceAccountToken"] is False, f"{r.name} mounts an API token"
            for container in pod["containers"]:
                hardened(container, f"{r.name}/{container['name']}")
            assert not any(e.get("value") for c in pod["containers"] for e in c.get("env", []) if "PASS" in e["name"])
    chart = values(build("nats", env_name).graph, "kubernetes:helm.sh/v4:Chart")
    for part in ("container", "reloader", "promExporter"):
        hardened(chart[part]["merge"], f"nats {part}")
    assert chart["podTemplate"]["merge"]["spec"]["automountServiceAccountToken"] is False
