"""CockroachDB: micro's store, from the upstream cockroachdb chart, with scheduled backups to Azure.

Deploys, in namespace `cockroach`: the `cockroachdb` chart as a Helm release (StatefulSet
`cockroach-cockroachdb`, Service `cockroach-cockroachdb-public`, PodDisruptionBudget, node and root
client Certificates issued by the internal CA), a NetworkPolicy that admits clients from `server`
only, and in the cloud a Job that creates the backup schedule.

helm.v3.Release rather than helm.v4.Chart: the chart initialises the cluster (`cockroach init`) in a
post-install hook Job and, with the self-signer, creates certificates in a pre-install hook;
helm.v4.Chart skips hooks, so the cluster would never be initialised.

Backups run inside CockroachDB (a schedule), as the nodes' own identity: the pods carry the
workload identity label, so the webhook injects AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE,
which `AUTH=implicit` uses to write to the backup container. The Job only creates the schedule.

Expects: cert-manager, the internal CA ClusterIssuer, and in the cloud the backup identity federated
with COCKROACH_SA. Leaves out: client certificates for micro (issued into `server` by the runtime),
the DB Console (port 8080 is admitted from nowhere), and blob retention, which the Azure layer
enforces with a lifecycle rule on the backup container.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.helm.v3 import Release, ReleaseArgs, RepositoryOptsArgs

from components.kubernetes.contracts import COCKROACH_SA, CloudBindings, Endpoint
from components.kubernetes.datastore import (
    certificate_spec,
    container_security_context,
    datastore_labels,
    isolation_policy_spec,
    namespace_metadata,
    pod_security_context,
    resources,
)
from components.kubernetes.objects import Job, Namespace, NetworkPolicy, Secret
from infra.config.model import Backup, Cockroach

REPOSITORY = "https://charts.cockroachdb.com/"
NAMESPACE = COCKROACH_SA.namespace
FULLNAME = "cockroach-cockroachdb"
"""fullnameOverride: the StatefulSet (and the default ServiceAccount name) of the chart."""
PUBLIC_SERVICE = f"{FULLNAME}-public"
SQL_PORT = 26257
"""SQL clients and inter-node traffic share this port."""
CLIENT_USER = "root"
BACKUP_IMAGE = "cockroachdb/cockroach:v26.2.1"
"""The `cockroach` CLI of the schedule Job: the app version of chart 21.0.1. Bump it with the chart."""
BACKUP_IMAGE_CHART = "21.0.1"
BACKUP_CLIENT_SECRET = "cockroach-backup-client-tls"
PASSPHRASE_SECRET = "cockroach-backup-passphrase"
PASSPHRASE_KEY = "passphrase"
# Where the Job reads the passphrase: a file, not an env var, so it stays out of `kubectl describe`,
# /proc/<pid>/environ and crash dumps (checkov CKV_K8S_35).
PASSPHRASE_DIR = "/secrets/backup"
SCHEDULE_LABEL = "micro_backups"
CERTS_DIR = "/cockroach-certs"
UID = 1000
"""The `cockroach` image's user, as in the chart's own pods."""
JOB_UID = 10001
"""The schedule Job's user: above 10000, so it matches no node user; the certificates are readable through fsGroup."""
SMALL_RESOURCES = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
"""The chart's init Job and the schedule Job: one `cockroach` CLI call each."""


@dataclass(frozen=True)
class CockroachClusterArgs:
    version: str
    """Chart version (release.charts.cockroachdb)."""
    store: Cockroach
    """Members, volume, resources and (cloud) the backup schedule."""
    zones: list[str]
    """Zones of the region; with more than one member and zone, members must land in different zones."""
    ca_issuer: pulumi.Input[str]
    """ClusterIssuer (the internal CA) that signs the node, root and backup client certificates."""
    cloud: CloudBindings | None
    """Backup account, container and identity; None in kind, which has no backups."""
    backup_passphrase: pulumi.Input[str] | None = None
    """Encrypts backups when set (a Pulumi secret). Keep it: without it no backup can be restored."""
    enabled: bool = True
    """False leaves out the release and the backup Job (offline renders); namespace and policy stay."""


class CockroachCluster(pulumi.ComponentResource):
    endpoint: Endpoint
    """The public Service: cockroach-cockroachdb-public.cockroach.svc.cluster.local:26257, user root."""

    def __init__(self, name: str, args: CockroachClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:CockroachCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cloud, backup = args.cloud, args.store.backup

        # baseline, not restricted: the chart's init hook Job runs without a security context.
        ns = Namespace(f"{name}-namespace", metadata=namespace_metadata(NAMESPACE, "baseline"), opts=child)
        namespace = ns.object_name
        NetworkPolicy(
            f"{name}-network-policy",
            metadata={"name": NAMESPACE, "namespace": namespace, "labels": datastore_labels(NAMESPACE)},
            spec=isolation_policy_spec(SQL_PORT, [SQL_PORT]),
            opts=child,
        )
        if args.enabled:
            release = Release(
                f"{name}-release",
                ReleaseArgs(
                    chart="cockroachdb",
                    version=args.version,
                    repository_opts=RepositoryOptsArgs(repo=REPOSITORY),
                    name="cockroach",
                    namespace=namespace,
                    values=cockroach_values(
                        args.store, args.zones, args.ca_issuer, cloud.cockroach_client_id if cloud else None
                    ),
                    # Succeed only once the post-install init Job has initialised the cluster.
                    wait_for_jobs=True,
                    # Volumes attach and certificates issue before three nodes are ready; 5 minutes is tight.
                    timeout=900,
                    # A failed first install stays for inspection instead of being uninstalled.
                    atomic=False,
                    max_history=10,
                ),
                # The release owns the volumes; the kind stack's data is disposable.
                pulumi.ResourceOptions(parent=self, protect=cloud is not None),
            )
            if cloud is not None and backup is not None:
                self._backup_schedule(name, namespace, args, cloud, backup, release)

        self.endpoint = Endpoint(
            host=f"{PUBLIC_SERVICE}.{NAMESPACE}.svc.cluster.local",
            port=SQL_PORT,
            namespace=NAMESPACE,
            client_user=CLIENT_USER,
        )
        self.register_outputs({"endpoint": asdict(self.endpoint)})

    def _backup_schedule(
        self,
        name: str,
        namespace: pulumi.Input[str],
        args: CockroachClusterArgs,
        cloud: CloudBindings,
        backup: Backup,
        release: Release,
    ) -> None:
        """A root client certificate, the passphrase Secret (if any) and the Job that creates the schedule."""
        child = pulumi.ResourceOptions(parent=self)
        labels = {**datastore_labels(NAMESPACE), "app.kubernetes.io/component": "backup"}
        certificate = CustomResource(
            f"{name}-backup-client-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": "cockroach-backup-client", "namespace": namespace, "labels": labels},
            # CockroachDB maps the certificate's CN to the SQL user; only root may create schedules.
            spec=certificate_spec(BACKUP_CLIENT_SECRET, [], args.ca_issuer, ("client auth",), common_name=CLIENT_USER),
            opts=child,
        )
        encrypted = args.backup_passphrase is not None
        depends: list[pulumi.Resource] = [release, certificate]
        if args.backup_passphrase is not None:
            depends.append(
                Secret(
                    f"{name}-backup-passphrase",
                    metadata={"name": PASSPHRASE_SECRET, "namespace": namespace, "labels": labels},
                    type="Opaque",
                    stringData={PASSPHRASE_KEY: pulumi.Output.secret(args.backup_passphrase)},
                    opts=child,
                )
            )
        sql = pulumi.Output.all(cloud.backup_account, cloud.backup_container).apply(
            lambda names: backup_schedule_sql(names[0], names[1], backup, encrypted)
        )
        Job(
            f"{name}-backup-schedule",
            metadata={
                "name": "cockroach-backup-schedule",
                "namespace": namespace,
                "labels": labels,
                # Recorded next to the schedule; the Azure layer's lifecycle rule deletes older blobs.
                "annotations": {"backup.m3o.com/retention-days": str(backup.retention_days)},
            },
            spec=sql.apply(lambda statement: backup_job_spec(statement, encrypted, labels)),
            # The schedule needs a running, initialised cluster and the certificate's Secret; neither is a data edge.
            # A Job's template is immutable: a new statement replaces the Job, which keeps its name, so the old
            # one goes first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends, delete_before_replace=True),
        )


def cockroach_values(
    store: Cockroach, zones: list[str], ca_issuer: pulumi.Input[str], client_id: pulumi.Input[str] | None
) -> dict[str, Any]:
    """Values for the cockroachdb chart; `client_id` (cloud only) turns on workload identity."""
    spread = store.members > 1 and len(zones) > 1
    # The chart has no pod-only labels: statefulset.labels goes on the pods and into the (immutable)
    # selector. The workload identity label is therefore set from the first install of a cloud stack.
    pod_labels = {"app.kubernetes.io/component": "cockroachdb"}
    service_account: dict[str, Any] = {"create": True, "name": COCKROACH_SA.name}
    if client_id is not None:
        pod_labels["azure.workload.identity/use"] = "true"
        service_account["annotations"] = {"azure.workload.identity/client-id": client_id}
    return {
        "fullnameOverride": FULLNAME,
        "statefulset": {
            "replicas": store.members,
            "budget": {"maxUnavailable": 1},
            "labels": pod_labels,
            "serviceAccount": service_account,
            "resources": resources(store),
            # The chart takes a single constraint (no minDomains); zone spread is hard only where there are zones.
            "topologySpreadConstraints": {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule" if spread else "ScheduleAnyway",
            },
            "podAntiAffinity": {
                "topologyKey": "kubernetes.io/hostname",
                "type": "hard" if store.members > 1 else "soft",
                "weight": 100,
            },
        },
        "storage": {
            "persistentVolume": {
                "enabled": True,
                "size": f"{store.storage_gb}Gi",
                "storageClass": store.storage_class,
            }
        },
        "tls": {
            "enabled": True,
            "certs": {
                "selfSigner": {"enabled": False},
                "certManager": True,
                "useCertManagerV1CRDs": True,
                "certManagerIssuer": {
                    "group": "cert-manager.io",
                    "kind": "ClusterIssuer",
                    "name": ca_issuer,
                    # false: node and root certificates come straight from the internal CA (no chart CA),
                    # so the micro runtime's client certificate from the same CA is trusted.
                    "isSelfSignedIssuer": False,
                },
            },
        },
        # The chart's pod hardening: non-root uid 1000, read-only root, no capabilities, RuntimeDefault.
        "securityContext": {"enabled": True},
        "init": {"resources": SMALL_RESOURCES},
        # Our NetworkPolicy (server only) replaces the chart's.
        "networkPolicy": {"enabled": False},
    }


def backup_location(account: str, container: str) -> str:
    """The backup collection URI; AUTH=implicit uses the nodes' workload identity."""
    return f"azure-blob://{container}?AZURE_ACCOUNT_NAME={account}&AUTH=implicit"


def backup_schedule_sql(account: str, container: str, backup: Backup, encrypted: bool) -> str:
    """Replace the full-cluster backup schedule with the environment's: drop it (with its incremental
    schedule), then create it again.

    The Job that runs this is replaced whenever the statement changes, so a new cadence, container or
    passphrase reaches the cluster; a rerun is harmless (nothing to drop, the same schedule created).
    `first_run = 'now'` starts the new chain with a full backup at once. With `encrypted`, the passphrase
    is read from the shell variable PASSPHRASE_SQL (already SQL-quoted), never written here.
    """
    options = " WITH encryption_passphrase = '${PASSPHRASE_SQL}'" if encrypted else ""
    return (
        f"DROP SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = '{SCHEDULE_LABEL}'; "
        f"CREATE SCHEDULE {SCHEDULE_LABEL} FOR BACKUP INTO '{backup_location(account, container)}'"
        f"{options} RECURRING '{backup.schedule}' FULL BACKUP '{backup.full_schedule}'"
        " WITH SCHEDULE OPTIONS first_run = 'now', ignore_existing_backups;"
    )


def backup_script(sql: str, encrypted: bool) -> str:
    """bash for the Job: SQL-quote the passphrase from its file (if any), then run `sql` as root."""
    lines = ["set -eu"]
    if encrypted:
        lines.append(f'BACKUP_PASSPHRASE=$(<"{PASSPHRASE_DIR}/{PASSPHRASE_KEY}")')
        lines.append("PASSPHRASE_SQL=${BACKUP_PASSPHRASE//\\'/\\'\\'}")
    lines.append(
        f'exec /cockroach/cockroach sql --certs-dir={CERTS_DIR} --host={PUBLIC_SERVICE}:{SQL_PORT} --execute="{sql}"'
    )
    return "\n".join(lines)


def backup_job_spec(sql: str, encrypted: bool, labels: dict[str, str]) -> dict[str, Any]:
    """Job spec that runs `sql`; the passphrase reaches it only as a read-only 0400 file."""
    mounts = [{"name": "client-certs", "mountPath": CERTS_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = []
    if encrypted:
        mounts.append({"name": "backup-passphrase", "mountPath": PASSPHRASE_DIR, "readOnly": True})
        volumes.append({"name": "backup-passphrase", "secret": {"secretName": PASSPHRASE_SECRET, "defaultMode": 0o400}})
    key_items = [
        {"key": "ca.crt", "path": "ca.crt"},
        {"key": "tls.crt", "path": f"client.{CLIENT_USER}.crt"},
        {"key": "tls.key", "path": f"client.{CLIENT_USER}.key"},
    ]
    return {
        # Retries (with back-off) while the cluster finishes initialising.
        "backoffLimit": 10,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "OnFailure",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": pod_security_context(JOB_UID),
                "containers": [
                    {
                        "name": "create-schedule",
                        "image": BACKUP_IMAGE,
                        "command": ["/bin/bash", "-c", backup_script(sql, encrypted)],
                        "resources": SMALL_RESOURCES,
                        "securityContext": container_security_context(JOB_UID),
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": [
                    {
                        "name": "client-certs",
                        # The file names `cockroach --certs-dir` expects; 0400 as in the chart's own pods.
                        "projected": {
                            "defaultMode": 0o400,
                            "sources": [{"secret": {"name": BACKUP_CLIENT_SECRET, "items": key_items}}],
                        },
                    },
                    *volumes,
                ],
            },
        },
    }
