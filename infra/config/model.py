"""The typed environment: what `environments/<name>.yaml` may say, and what follows from it.

Every section inherits `Strict`, so unknown keys are errors at any depth and a loaded
environment cannot be changed afterwards. Cross-field rules live in `model_validator`s so
that pydantic reports every problem of a file in one pass.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from infra.config import values
from infra.config.errors import key_path
from infra.config.regions import AZURE_REGIONS


class Strict(BaseModel):
    """Base of every section: unknown keys fail, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_stray_booleans(cls, value: object, info: ValidationInfo) -> object:
        """YAML 1.1 reads yes/no/on/off unquoted as booleans, and pydantic would take True as 1:
        `members: yes` must fail, not become one member. Only a boolean key takes a boolean."""
        if (
            isinstance(value, bool)
            and info.field_name
            and not _takes_bool(cls.model_fields[info.field_name].annotation)
        ):
            raise ValueError(
                f"expected a number or a string, got the boolean {value} "
                "(YAML reads unquoted yes, no, on and off as booleans); quote it, or write the number"
            )
        return value


def _takes_bool(annotation: object) -> bool:
    return annotation is bool or any(_takes_bool(arg) for arg in get_args(annotation))


# --- reusable constrained types (the rules live in infra/config/values.py) -------------------------

Fqdn = Annotated[str, AfterValidator(values.fqdn)]
ZoneName = Annotated[str, AfterValidator(values.zone)]
WildcardHost = Annotated[str, AfterValidator(values.wildcard)]
Version = Annotated[str, AfterValidator(values.semver)]
Email = Annotated[str, AfterValidator(values.email)]
CpuQuantity = Annotated[str, AfterValidator(lambda v: values.resource_quantity(v, "cpu"))]
MemoryQuantity = Annotated[str, AfterValidator(lambda v: values.resource_quantity(v, "memory"))]
Cron = Annotated[str, AfterValidator(values.cron)]
IpRange = Annotated[str, AfterValidator(values.ipv4_range)]
ImageRepository = Annotated[str, AfterValidator(values.image_repository)]
EnvName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{1,11}$", description="lowercase, 2-12 characters")]
PoolName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,11}$", description="AKS pool name: 1-12 a-z0-9")]
VmSize = Annotated[str, AfterValidator(values.vm_size), Field(description="an Azure VM size")]
Zone = Literal["1", "2", "3"]
EntraId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="an Entra ID object ID (a GUID)",
    ),
]


class Cloud(StrEnum):
    azure = "azure"
    kind = "kind"


class AcmeServer(StrEnum):
    """Which Let's Encrypt directory signs the public certificates."""

    production = "production"
    staging = "staging"

    @property
    def issuer(self) -> str:
        return "letsencrypt-prod" if self is AcmeServer.production else "letsencrypt-staging"


class Tier(StrEnum):
    Free = "Free"
    Standard = "Standard"


class UpgradeChannel(StrEnum):
    patch = "patch"
    stable = "stable"
    rapid = "rapid"
    none = "none"


class WeekDay(StrEnum):
    Monday = "Monday"
    Tuesday = "Tuesday"
    Wednesday = "Wednesday"
    Thursday = "Thursday"
    Friday = "Friday"
    Saturday = "Saturday"
    Sunday = "Sunday"


# --- cluster ----------------------------------------------------------------------------------


class VmSpec(BaseModel):
    """What the model needs to know about a VM size: its vCPUs and its local (temp) disk."""

    model_config = ConfigDict(frozen=True)
    vcpus: int
    max_ephemeral_os_gb: int
    """The largest ephemeral OS disk the size holds: its temp disk (Ddsv5 has no separate cache disk)."""
    quota_family: str
    """The regional vCPU quota the size counts against (`az vm list-usage`, name.value)."""


VM_SIZES: dict[str, VmSpec] = {
    # Temp storage per size: MicrosoftDocs/azure-docs articles/virtual-machines/ddv5-ddsv5-series.md
    # (https://learn.microsoft.com/azure/virtual-machines/ddv5-ddsv5-series). An ephemeral OS disk lives on that
    # disk, and AKS rejects an explicit Ephemeral osDiskType that does not fit instead of falling back to Managed
    # (Azure/PSRule.Rules.Azure docs/en/rules/Azure.AKS.EphemeralOSDisk.md).
    "Standard_D2ds_v5": VmSpec(vcpus=2, max_ephemeral_os_gb=75, quota_family="standardDDSv5Family"),
    "Standard_D4ds_v5": VmSpec(vcpus=4, max_ephemeral_os_gb=150, quota_family="standardDDSv5Family"),
    "Standard_D8ds_v5": VmSpec(vcpus=8, max_ephemeral_os_gb=300, quota_family="standardDDSv5Family"),
    "Standard_D16ds_v5": VmSpec(vcpus=16, max_ephemeral_os_gb=600, quota_family="standardDDSv5Family"),
}
"""The VM sizes node pools may use; a new size is added here with its documented temp disk."""


class NodePool(Strict):
    name: PoolName
    """AKS pool name; it becomes part of every node's name."""
    vm_size: VmSize
    min_count: int = Field(ge=1, le=1000)
    """Autoscaler floor. The system pool needs 3 to keep one node per zone."""
    max_count: int = Field(ge=1, le=1000)
    os_disk_gb: int = Field(ge=30, le=2048)
    """Ephemeral OS disk size; it must fit the VM size's temp disk (VM_SIZES)."""

    @model_validator(mode="after")
    def _bounds(self) -> NodePool:
        problems = []
        if self.min_count > self.max_count:
            problems.append(f"min_count: {self.min_count} is greater than max_count ({self.max_count})")
        spec = VM_SIZES.get(self.vm_size)
        if spec is None:
            problems.append(f"vm_size: {self.vm_size!r} is not an allowed size ({', '.join(VM_SIZES)})")
        elif self.os_disk_gb > spec.max_ephemeral_os_gb:
            problems.append(
                f"os_disk_gb: {self.os_disk_gb} GB does not fit the {spec.max_ephemeral_os_gb} GiB temp disk of"
                f" {self.vm_size}, which holds the ephemeral OS disk; use at most {spec.max_ephemeral_os_gb}"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Maintenance(Strict):
    """Weekly window in UTC for node-image upgrades; AKS requires at least 4 hours."""

    day: WeekDay
    start_hour: int = Field(ge=0, le=23)
    duration_hours: int = Field(ge=4, le=24)


class Monitoring(Strict):
    """What watches the cluster; each switch costs money, so each is explicit. Platform turns all of them on."""

    log_analytics: bool
    """A Log Analytics workspace receiving the control plane's audit logs (kube-audit-admin, guard)."""
    defender: bool
    """Microsoft Defender for Containers' sensor (needs log_analytics)."""
    managed_prometheus: bool
    """Azure Monitor managed Prometheus: an Azure Monitor workspace and the cluster's metrics add-on."""
    pod_security_audit: bool
    """The Azure Policy initiative 'Kubernetes cluster pod security restricted standards for Linux-based workloads',
    assigned in audit mode (the add-on reports, it does not block)."""

    @model_validator(mode="after")
    def _needs_workspace(self) -> Monitoring:
        if self.defender and not self.log_analytics:
            raise ValueError("defender: Defender for Containers reports into Log Analytics; set log_analytics: true")
        return self


class Cluster(Strict):
    kubernetes_version: str = Field(pattern=r"^1\.[0-9]{2}$", description="minor version, e.g. 1.34")
    tier: Tier
    """Standard buys the uptime SLA; platform needs it."""
    upgrade_channel: UpgradeChannel
    local_accounts: bool
    """False disables the static admin kubeconfig, so only Entra ID identities get in."""
    operators_group_id: EntraId
    """The Entra ID group of the operators; it gets Azure Kubernetes Service RBAC Cluster Admin on the cluster
    (with Azure RBAC, adminGroupObjectIDs grants nothing, so this is the only human way in)."""
    authorized_ip_ranges: list[IpRange] = []
    """Who may reach the API server. Empty means anywhere (still Entra ID-authenticated), which only a
    non-production environment may choose; the deploying runner's egress must be listed."""
    monitoring: Monitoring
    system_pool: NodePool
    user_pool: NodePool
    maintenance: Maintenance


class Region(Strict):
    name: str = Field(min_length=1, max_length=40)
    """The Azure region (uksouth), or `local` for kind."""
    zones: list[Zone] = Field(default=["1", "2", "3"], min_length=1)
    """Availability zones the region's pods spread over (topology spread minDomains must be at least 1)."""
    cluster: Cluster | None = None

    @field_validator("zones")
    @classmethod
    def _zones_once(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones):
            raise ValueError(f"a zone is listed twice ({', '.join(zones)})")
        return zones


# --- edge, TLS --------------------------------------------------------------------------------


class Hosts(Strict):
    api: Fqdn
    web: Fqdn
    proxy: Fqdn
    apps: WildcardHost
    """Wildcard for user apps, routed to the api gateway (MICRO_API_RESOLVER=subdomain)."""


class Dns(Strict):
    zones: list[ZoneName] = Field(min_length=1)
    """Zones this environment owns; every host must fall inside one of them."""
    hosts: Hosts

    def zone_of(self, host: str) -> str:
        """The longest owned zone that contains `host` (wildcards included)."""
        bare = host.removeprefix("*.")
        matches = [z for z in self.zones if bare == z or bare.endswith("." + z)]
        if not matches:
            raise ValueError(f"{host} is in none of the zones {self.zones}")
        return max(matches, key=len)

    @model_validator(mode="after")
    def _hosts_fit_zones(self) -> Dns:
        hosts = self.hosts.model_dump()
        seen: dict[str, str] = {}
        problems = []
        for role, host in hosts.items():
            if host in seen:
                problems.append(f"hosts.{role}: {host} repeats hosts.{seen[host]}; every host must be unique")
            seen[host] = role
            try:
                self.zone_of(host)
            except ValueError:
                problems.append(f"hosts.{role}: {host} is outside the zones {', '.join(self.zones)}")
        if len(set(self.zones)) != len(self.zones):
            problems.append("zones: a zone is listed twice")
        for parent, child in values.nested_zones(self.zones):
            problems.append(
                f"zones: {child} lies inside {parent}; a zone inside another needs NS delegation records, which "
                f"this program does not create: list {parent} only"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Acme(Strict):
    server: AcmeServer
    email: Email
    """Let's Encrypt sends expiry warnings here."""


# --- datastores -------------------------------------------------------------------------------


class Resources(Strict):
    cpu: CpuQuantity
    memory: MemoryQuantity


class Datastore(Strict):
    members: int = Field(ge=1, le=9)
    """Raft quorum members; cloud environments need an odd number of at least 3."""
    storage_gb: int = Field(ge=1, le=4096)
    storage_class: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$")
    requests: Resources
    limits: Resources

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Datastore:
        """The API server refuses a pod whose request is above its limit (ValidateResourceRequirements:
        "must be less than or equal to ... limit"), so the StatefulSet would never get a pod."""
        problems = []
        for resource in ("cpu", "memory"):
            request, limit = getattr(self.requests, resource), getattr(self.limits, resource)
            if values.quantity_value(request) > values.quantity_value(limit):
                problems.append(f"requests.{resource}: {request} is above limits.{resource} ({limit})")
        if problems:
            raise ValueError("\n".join(problems))
        return self


class Backup(Strict):
    schedule: Cron
    """Incremental backups (cron or @hourly)."""
    full_schedule: Cron
    """Full backups; incrementals chain to the latest full one."""
    retention_days: int = Field(ge=1, le=3650)


class Cockroach(Datastore):
    backup: Backup | None = None
    """Scheduled backups to Azure blob storage; cloud only."""


class Datastores(Strict):
    etcd: Datastore
    nats: Datastore
    cockroach: Cockroach


# --- release pins -----------------------------------------------------------------------------


class Image(Strict):
    repository: ImageRepository
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """A release tag; the digest, when known, is what the node pulls."""
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _pinned(self) -> Image:
        if self.tag.lower() in values.MOVING_TAGS:
            raise ValueError(
                f"tag: {self.tag!r} is not a pin: it moves with every release (micro/micro:latest is no longer"
                " micro v2); use a release tag such as v2.9.3, with @sha256: digest when known"
            )
        return self

    @property
    def ref(self) -> str:
        """repository:tag[@digest], the most specific reference available."""
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


class Charts(Strict):
    cert_manager: Version
    envoy_gateway: Version
    nats: Version
    cockroachdb: Version


class Release(Strict):
    """Everything `infra promote` copies from staging to platform, and nothing else."""

    micro: Image
    etcd: Image
    charts: Charts


class MicroMode(StrEnum):
    """How micro runs, and on what."""

    zero_dependency = "zero-dependency"
    """`micro server`: one pod, every service a child process, on mDNS, the HTTP broker and the bbolt file store
    (the seed's local model). kind only."""
    datastores = "datastores"
    """One Deployment per service, on etcd (registry), NATS (broker) and CockroachDB (store)."""


class MicroServiceSettings(Strict):
    replicas: int = Field(ge=1, le=20)
    """Replicas of this service, overriding `micro.replicas`."""


CORE_SERVICES = (
    "api",
    "web",
    "proxy",
    "network",
    "auth",
    "config",
    "debug",
    "registry",
    "store",
    "broker",
    "router",
    "runtime",
)
"""micro v2.9.3's core services (components/kubernetes/micro_v2.py holds what each is)."""


class FileStore(Strict):
    """The zero-dependency store's volume: bbolt files under $TMPDIR/micro/store."""

    storage_gb: int = Field(ge=1, le=100)
    storage_class: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$")


class Micro(Strict):
    mode: MicroMode
    """zero-dependency (kind only) or datastores (required in the cloud)."""
    replicas: int = Field(ge=1, le=20)
    """Replicas of every micro service; cloud environments run at least 2 behind a PDB. zero-dependency: 1."""
    services: dict[str, MicroServiceSettings] = {}
    """Per-service overrides, by the name micro gives the service (api, web, ...)."""
    login_url: str | None = Field(default=None, pattern=r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
    """Where the web dashboard sends people to log in (MICRO_AUTH_LOGIN_URL)."""
    file_store: FileStore | None = None
    """zero-dependency only: the volume the bbolt store lives on."""

    @model_validator(mode="after")
    def _services(self) -> Micro:
        problems = []
        for service in self.services:
            if service not in CORE_SERVICES:
                problems.append(
                    f"{key_path(('services', service))}: not a micro v2 service (one of {', '.join(CORE_SERVICES)})"
                )
        if self.mode is MicroMode.zero_dependency:
            if self.replicas != 1:
                problems.append(f"replicas: zero-dependency runs one `micro server` pod (got {self.replicas})")
            if self.services:
                problems.append("services: zero-dependency runs every service in one pod; there is nothing to scale")
            if self.file_store is None:
                problems.append("file_store: zero-dependency needs a volume for the bbolt store")
        elif self.file_store is not None:
            problems.append("file_store: only the zero-dependency mode has a file store")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def replicas_of(self, service: str) -> int:
        override = self.services.get(service)
        return override.replicas if override else self.replicas


# --- the environment --------------------------------------------------------------------------

QUORUM_STORES = ("etcd", "nats", "cockroach")


class Environment(Strict):
    name: EnvName
    cloud: Cloud
    regions: list[Region] = Field(min_length=1, max_length=50)
    dns: Dns
    acme: Acme | None = None
    micro: Micro
    datastores: Datastores | None = None
    """etcd, NATS and CockroachDB; required in `datastores` mode, absent in `zero-dependency` mode."""
    release: Release
    promote_from: EnvName | None = None
    """The one environment whose release pins `infra promote` may copy here; promotion goes one way,
    and an environment without it takes none."""

    @property
    def is_cloud(self) -> bool:
        return self.cloud is not Cloud.kind

    @model_validator(mode="after")
    def _cloud_rules(self) -> Environment:
        problems: list[str] = []
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            problems.append(f"regions: a region is listed twice ({', '.join(names)})")
        if (self.micro.mode is MicroMode.datastores) != (self.datastores is not None):
            problems.append(
                "datastores: required when micro.mode is datastores"
                if self.datastores is None
                else "datastores: micro.mode zero-dependency runs on mDNS, the HTTP broker and a file store"
            )
        if self.cloud is Cloud.azure:
            problems += self._azure_problems()
        else:
            problems += self._kind_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _azure_problems(self) -> list[str]:
        problems = []
        for i, region in enumerate(self.regions):
            if region.name not in AZURE_REGIONS:
                problems.append(f"regions[{i}].name: {region.name!r} is not an Azure region (e.g. uksouth)")
            if region.cluster is None:
                problems.append(f"regions[{i}].cluster: an Azure region needs a cluster section")
            if sorted(region.zones) != ["1", "2", "3"]:
                problems.append(f"regions[{i}].zones: cloud regions spread over zones 1, 2 and 3")
            if region.cluster is not None:
                user, zones = region.cluster.user_pool, len(region.zones)
                for key in ("min_count", "max_count"):
                    if getattr(user, key) % zones:
                        problems.append(
                            f"regions[{i}].cluster.user_pool.{key}: {getattr(user, key)} does not split evenly over"
                            f" {zones} zones (the user pool runs one node pool per zone)"
                        )
            production = self.acme is not None and self.acme.server is AcmeServer.production
            if production and region.cluster is not None and not region.cluster.authorized_ip_ranges:
                problems.append(
                    f"regions[{i}].cluster.authorized_ip_ranges: a production API server must not be open to the"
                    " internet; list the operators' and the deploying runner's egress ranges"
                )
        if self.acme is None:
            problems.append("acme: an Azure environment needs ACME settings")
        for i, name in enumerate(self.dns.zones):
            if values.is_local_name(name):
                problems.append(
                    f"dns.zones[{i}]: {name} is not served by public DNS; a cloud environment needs a registered domain"
                )
        if self.micro.mode is not MicroMode.datastores:
            problems.append("micro.mode: cloud environments run on the datastores (mode: datastores)")
        if self.micro.login_url is None:
            problems.append("micro.login_url: cloud environments send web's logins somewhere (MICRO_AUTH_LOGIN_URL)")
        if self.datastores is None:
            return problems
        for store in QUORUM_STORES:
            members = getattr(self.datastores, store).members
            if members < 3 or members % 2 == 0:
                problems.append(
                    f"datastores.{store}.members: a cloud quorum needs an odd number of at least 3 (got {members})"
                )
            if store == "cockroach" and self.datastores.cockroach.backup is None:
                problems.append("datastores.cockroach.backup: cloud environments back up CockroachDB")
        if self.micro.replicas < 2:
            problems.append(f"micro.replicas: cloud environments run at least 2 (got {self.micro.replicas})")
        for service, settings in self.micro.services.items():
            if settings.replicas < 2:
                problems.append(
                    f"{key_path(('micro', 'services', service, 'replicas'))}: cloud environments run at least 2 "
                    f"(got {settings.replicas})"
                )
        return problems

    def _kind_problems(self) -> list[str]:
        problems = []
        if self.regions[0].name != "local" or len(self.regions) != 1:
            problems.append("regions: a kind environment has exactly one region, named local")
        if any(r.cluster is not None for r in self.regions):
            problems.append("regions[0].cluster: kind clusters are sized by templates/kind-config.yaml.j2")
        if self.acme is not None:
            problems.append("acme: a kind environment has no ACME; the internal CA signs its hosts")
        if self.dns.zones != ["localhost"]:
            problems.append("dns.zones: a kind environment serves hosts under localhost only")
        if self.datastores is not None and self.datastores.cockroach.backup is not None:
            problems.append("datastores.cockroach.backup: backups need Azure storage")
        # kind runs one node (templates/kind-config.yaml.j2); members and replicas spread one per node (hard
        # anti-affinity), so a second one would stay Pending forever.
        for store in QUORUM_STORES if self.datastores is not None else ():
            members = getattr(self.datastores, store).members
            if members != 1:
                problems.append(
                    f"datastores.{store}.members: a kind cluster has one node and members need one each (got {members})"
                )
        if self.micro.mode is MicroMode.datastores and self.micro.replicas != 1:
            problems.append(
                f"micro.replicas: a kind cluster has one node and replicas need one each (got {self.micro.replicas})"
            )
        for service, settings in self.micro.services.items():
            if settings.replicas != 1:
                problems.append(
                    f"{key_path(('micro', 'services', service, 'replicas'))}: a kind cluster has one node and "
                    f"replicas need one each (got {settings.replicas})"
                )
        return problems
