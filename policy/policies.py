"""micro-infra's guardrails, written once as plain functions over a resource view.

Two runners share this file, so it imports nothing from Pulumi: policy/__main__.py wraps each rule for
CrossGuard (`pulumi preview --policy-pack policy`), and infra/guardrails/checks.py loads it by path and
runs the same rules over the offline plan (`infra check`). A Resource's `props` are the camelCase wire
form either way; secrets may be masked ("[secret]") and values a preview cannot know are UNKNOWN. A rule
that needs an unknown value skips it: the real engine runs the pack again at `up`, when it is known.

Mandatory rules fail a preview; advisory rules are reported and never fail one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

UNKNOWN = "[unknown]"
MANDATORY: Literal["mandatory"] = "mandatory"
ADVISORY: Literal["advisory"] = "advisory"
ZONE_KEY = "topology.kubernetes.io/zone"
MIN_CLOUD_MEMBERS = 3
ACME_ISSUER_PREFIX = "letsencrypt-"
PRODUCTION_ISSUER = "letsencrypt-prod"
PRODUCTION_STACK = "platform"
"""The production environment's stack; a region stack of it is named platform-<region>."""
DATASTORE_CHARTS = ("nats", "cockroachdb")
"""Helm charts whose releases hold data on volumes."""
AZURE_STATEFUL = ("dns:Zone", "network:PublicIPAddress", "storage:StorageAccount", "storage:BlobContainer")
"""Azure resources whose loss is not undone by re-creating them: delegations, addresses, backups."""
RESOURCE_GROUP = "resources:ResourceGroup"
CLUSTER = "containerservice:ManagedCluster"
IDENTITY = "managedidentity:UserAssignedIdentity"
ZONE = "dns:Zone"
ROLE_ASSIGNMENT = "authorization:RoleAssignment"
ROLE_DEFINITION = "authorization:RoleDefinition"
LOCKS = (
    "authorization:ManagementLockByScope",
    "authorization:ManagementLockAtResourceLevel",
    "authorization:ManagementLockAtResourceGroupLevel",
)
INTERACTIVE_LOGIN = ("exec", "auth-provider", "devicecode", "interactive")
"""What a kubeconfig that logs in through a plugin, or by asking someone, contains (client-go's exec and auth-provider
users; kubelogin's `--login devicecode` / `interactive`). A provider with one blocks or fails in CI."""
ALLOWED_BUILT_IN_ROLES = {
    "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b": CLUSTER,  # Azure Kubernetes Service RBAC Cluster Admin, on a cluster
    "4d97b98b-1d4f-4787-a291-c67834d212e7": RESOURCE_GROUP,  # Network Contributor, on a group of public IPs only
}
"""Built-in roles the program may assign, and the one kind of scope each may have (components/azure/roles.py
BUILT_IN_ALLOWED says to whom; tests keep the two in step). Every other grant uses a custom role."""
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
HELM = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
VALUES_LIKE = (*HELM, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
"""Resources whose props configure containers without being pod specs: chart values, Envoy Gateway's proxy spec."""
SECURITY_KEYS = ("securityContext", "containerSecurityContext", "podSecurityContext")
DANGEROUS_CAPABILITIES = ("ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE")


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it, whichever runner built the view."""

    type: str
    """Pulumi type token, e.g. kubernetes:apps/v1:StatefulSet or azure-native:dns:Zone."""
    name: str
    """Pulumi resource name (not metadata.name)."""
    urn: str
    props: Mapping[str, Any]
    """Inputs in the camelCase wire form."""
    protect: bool = False
    parent: str | None = None
    """URN of the parent resource."""
    dependencies: tuple[str, ...] = ()
    """URNs this resource depends on (data edges and depends_on)."""

    @property
    def stack(self) -> str:
        """The stack name, from the URN (urn:pulumi:<stack>::<project>::...)."""
        return self.urn.removeprefix("urn:pulumi:").split("::", 1)[0]

    @property
    def kind(self) -> str:
        """The Kubernetes kind (StatefulSet), or "" for anything that is not a Kubernetes object."""
        parts = self.type.split(":")
        return parts[2] if len(parts) == 3 and parts[0] == "kubernetes" and not self.is_helm else ""

    @property
    def is_helm(self) -> bool:
        return self.type in HELM

    @property
    def azure(self) -> str:
        """module:Type of an azure-native resource with any API version dropped (dns:Zone), else ""."""
        parts = self.type.split(":")
        if len(parts) != 3 or parts[0] != "azure-native":
            return ""
        return f"{parts[1].split('/')[0]}:{parts[2]}"

    @property
    def metadata(self) -> Mapping[str, Any]:
        return _map(self.props.get("metadata"))

    @property
    def namespace(self) -> str:
        return _str(self.metadata.get("namespace")) or _str(self.props.get("namespace"))

    @property
    def label(self) -> str:
        """How messages name the resource: `StatefulSet etcd/etcd`, `helm release cockroach`, or the type and name."""
        if self.kind:
            name = _str(self.metadata.get("name")) or self.name
            return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{name}"
        if self.is_helm:
            return f"helm chart {chart_name(self)} ({self.name})"
        return f"{self.type.split(':')[-1]} {self.name}"


@dataclass(frozen=True)
class Finding:
    """One violation: the resource at fault (or "" for the whole stack) and what is wrong."""

    urn: str
    message: str


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Sequence[Resource]], Iterable[Finding]]


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    enforcement: Literal["mandatory", "advisory"]
    scope: Literal["resource", "stack"]
    check: ResourceCheck | StackCheck
    """resource scope: messages about one resource; stack scope: findings over every resource of the stack."""


def run(policy: Policy, resources: Sequence[Resource]) -> list[Finding]:
    """Every finding of `policy` over a stack's resources (the offline runner; CrossGuard calls checks itself)."""
    if policy.scope == "stack":
        return list(policy.check(resources))  # type: ignore[arg-type]
    return [Finding(r.urn, message) for r in resources for message in policy.check(r)]  # type: ignore[arg-type]


# --- mandatory: stateful resources are protected ----------------------------------------------


def stateful_protected(resources: Sequence[Resource]) -> Iterator[Finding]:
    """DNS zones, public IPs, storage, their resource groups and (in cloud) volume-backed stores carry `protect`.

    In a kind stack the stores are disposable and protection would only block `pulumi destroy`.
    """
    cloud = is_cloud(resources)
    stateful = [r for r in resources if r.azure in AZURE_STATEFUL or (cloud and is_volume_store(r))]
    groups = [r for r in resources if r.azure == RESOURCE_GROUP]
    for r in stateful:
        if not r.protect:
            yield Finding(r.urn, f"{r.label} holds state that a delete or replace would lose; set protect=True")
    for group in groups:
        held = [r for r in stateful if r.azure and _holds(group, r)]
        if held and not group.protect:
            names = ", ".join(sorted(r.label for r in held))
            yield Finding(group.urn, f"{group.label} holds {names}; deleting it deletes them: set protect=True")


def _holds(group: Resource, r: Resource) -> bool:
    """Whether resource group `group` contains `r`: a data edge to it, or its name when both are known."""
    if group.urn in r.dependencies:
        return True
    name = _str(group.props.get("resourceGroupName"))
    return bool(name) and name != UNKNOWN and _str(r.props.get("resourceGroupName")) == name


def is_volume_store(r: Resource) -> bool:
    """A StatefulSet with volume claim templates, or a Helm release of a datastore chart."""
    if r.kind == "StatefulSet":
        return bool(_list(_map(r.props.get("spec")).get("volumeClaimTemplates")))
    return r.is_helm and chart_name(r) in DATASTORE_CHARTS


# --- mandatory: cloud datastores keep a quorum across zones ------------------------------------


def cloud_datastore_quorum(resources: Sequence[Resource]) -> Iterator[Finding]:
    """In cloud: every volume-backed store runs ≥3 members, spread over zones, with a PDB that keeps a quorum."""
    if not is_cloud(resources):
        return
    budgets = [r for r in resources if r.kind == "PodDisruptionBudget"]
    for r in resources:
        if r.kind == "StatefulSet" and is_volume_store(r):
            yield from _statefulset_quorum(r, budgets)
        elif r.is_helm and chart_name(r) == "nats":
            yield from _nats_quorum(r)
        elif r.is_helm and chart_name(r) == "cockroachdb":
            yield from _cockroach_quorum(r)


def _statefulset_quorum(r: Resource, budgets: Sequence[Resource]) -> Iterator[Finding]:
    spec = _map(r.props.get("spec"))
    template = _map(spec.get("template"))
    replicas = _int(spec.get("replicas"))
    yield from _members(r, spec.get("replicas"), "spec.replicas")
    if not _spreads_over_zones(_map(template.get("spec")).get("topologySpreadConstraints")):
        yield Finding(r.urn, f"{r.label}: no topologySpreadConstraint on {ZONE_KEY}; members may share a zone")
    labels = _map(_map(template.get("metadata")).get("labels"))
    selecting = [b for b in budgets if b.namespace == r.namespace and _selects(b, labels)]
    if not selecting:
        yield Finding(r.urn, f"{r.label}: no PodDisruptionBudget selects its pods; a node drain may break the quorum")
    elif replicas is not None and not any(_keeps_quorum(_map(b.props.get("spec")), replicas) for b in selecting):
        yield Finding(r.urn, f"{r.label}: its PodDisruptionBudget lets a drain take more than a minority of members")


def _nats_quorum(r: Resource) -> Iterator[Finding]:
    values = _map(r.props.get("values"))
    cluster = _map(_map(values.get("config")).get("cluster"))
    if cluster.get("enabled") is not True:
        yield Finding(r.urn, f"{r.label}: values config.cluster.enabled must be true (a single server has no quorum)")
    yield from _members(r, cluster.get("replicas"), "values config.cluster.replicas")
    if not _spreads_over_zones(_map(values.get("podTemplate")).get("topologySpreadConstraints")):
        yield Finding(r.urn, f"{r.label}: values podTemplate.topologySpreadConstraints has no {ZONE_KEY} entry")
    if _map(values.get("podDisruptionBudget")).get("enabled") is False:
        yield Finding(r.urn, f"{r.label}: values podDisruptionBudget.enabled is false")


def _cockroach_quorum(r: Resource) -> Iterator[Finding]:
    statefulset = _map(_map(r.props.get("values")).get("statefulset"))
    yield from _members(r, statefulset.get("replicas"), "values statefulset.replicas")
    if not _spreads_over_zones(statefulset.get("topologySpreadConstraints")):
        yield Finding(r.urn, f"{r.label}: values statefulset.topologySpreadConstraints has no {ZONE_KEY} entry")
    replicas = _int(statefulset.get("replicas"))
    # The chart always creates the budget (maxUnavailable 1 unless set); only a wider one breaks the quorum.
    budget = _map(statefulset.get("budget"))
    if replicas is not None and budget and not _keeps_quorum(budget, replicas):
        yield Finding(r.urn, f"{r.label}: values statefulset.budget lets a drain take more than a minority of members")


def _members(r: Resource, value: Any, where: str) -> Iterator[Finding]:
    if value == UNKNOWN:
        return
    members = _int(value)
    if members is None or members < MIN_CLOUD_MEMBERS:
        yield Finding(r.urn, f"{r.label}: {where} is {value!r}; a cloud datastore needs at least {MIN_CLOUD_MEMBERS}")


def _spreads_over_zones(constraints: Any) -> bool:
    """Zone spread in a pod spec (a list) or in chart values (a list, a single constraint, or a map by key)."""
    if isinstance(constraints, Mapping):
        if ZONE_KEY in constraints:
            return True
        return constraints.get("topologyKey") == ZONE_KEY
    return any(_map(c).get("topologyKey") == ZONE_KEY for c in _list(constraints))


def _selects(budget: Resource, labels: Mapping[str, Any]) -> bool:
    wanted = _map(_map(_map(budget.props.get("spec")).get("selector")).get("matchLabels"))
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _keeps_quorum(spec: Mapping[str, Any], members: int) -> bool:
    """Whether a disruption budget leaves a majority of `members` running; percentages are taken on trust."""
    quorum = members // 2 + 1
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if _int(max_unavailable) is not None:
        return members - (_int(max_unavailable) or 0) >= quorum
    if _int(min_available) is not None:
        return (_int(min_available) or 0) >= quorum
    return isinstance(max_unavailable, str) or isinstance(min_available, str)


# --- mandatory: public endpoints have ACME TLS, production uses Let's Encrypt production -------


def public_tls_acme(resources: Sequence[Resource]) -> Iterator[Finding]:
    """In cloud: HTTPS listeners serve certificates from a letsencrypt-* ACME ClusterIssuer; HTTP only redirects."""
    if not is_cloud(resources):
        return
    issuers = {_str(r.metadata.get("name")): r for r in resources if r.kind == "ClusterIssuer"}
    for gateway in _of_kind(resources, "Gateway"):
        for listener in _list(_map(gateway.props.get("spec")).get("listeners")):
            listener = _map(listener)
            where = f"{gateway.label} listener {_str(listener.get('name'))!r}"
            protocol = listener.get("protocol")
            if protocol == "HTTPS":
                yield from _acme_listener(gateway, listener, where, resources, issuers)
            elif protocol == "HTTP":
                yield from _redirect_only(gateway, listener, where, resources)
            elif protocol != UNKNOWN:
                yield Finding(gateway.urn, f"{where} speaks {protocol}; public endpoints serve HTTPS (or redirect)")


def _acme_listener(
    gateway: Resource,
    listener: Mapping[str, Any],
    where: str,
    resources: Sequence[Resource],
    issuers: Mapping[str, Resource],
) -> Iterator[Finding]:
    tls = _map(listener.get("tls"))
    refs = _list(tls.get("certificateRefs"))
    if tls.get("mode", "Terminate") != "Terminate" or not refs:
        yield Finding(gateway.urn, f"{where} does not terminate TLS with a certificate of its own")
        return
    for ref in refs:
        certificate, problem = _certificate_for(gateway, _map(ref), resources)
        if problem:
            yield Finding(gateway.urn, f"{where}: {problem}")
            continue
        assert certificate is not None
        issuer_ref = _map(_map(certificate.props.get("spec")).get("issuerRef"))
        issuer = _str(issuer_ref.get("name"))
        if issuer == UNKNOWN:
            continue
        acme = _map(_map(issuers[issuer].props.get("spec")).get("acme")) if issuer in issuers else {}
        if issuer_ref.get("kind") != "ClusterIssuer" or not issuer.startswith(ACME_ISSUER_PREFIX) or not acme:
            yield Finding(
                gateway.urn,
                f"{where}: {certificate.label} is issued by {issuer_ref.get('kind', 'Issuer')} {issuer!r}, "
                f"not an ACME ClusterIssuer named {ACME_ISSUER_PREFIX}* in this stack",
            )


def _certificate_for(
    gateway: Resource, ref: Mapping[str, Any], resources: Sequence[Resource]
) -> tuple[Resource | None, str]:
    """The cert-manager Certificate that writes the Secret a listener references, or what is wrong."""
    secret = _str(ref.get("name"))
    namespace = _str(ref.get("namespace")) or gateway.namespace
    if secret == UNKNOWN or namespace == UNKNOWN:
        return None, ""
    if ref.get("kind", "Secret") != "Secret":
        return None, f"certificateRef {secret!r} is a {ref.get('kind')}, not a Secret written by cert-manager"
    for r in _of_kind(resources, "Certificate"):
        if r.namespace == namespace and _map(r.props.get("spec")).get("secretName") == secret:
            return r, ""
    return None, f"Secret {namespace}/{secret} is written by no cert-manager Certificate in this stack"


def _redirect_only(
    gateway: Resource, listener: Mapping[str, Any], where: str, resources: Sequence[Resource]
) -> Iterator[Finding]:
    gateway_name, section = _str(gateway.metadata.get("name")), _str(listener.get("name"))
    for route in resources:
        if route.kind not in ("HTTPRoute", "GRPCRoute"):
            continue
        for parent in _list(_map(route.props.get("spec")).get("parentRefs")):
            parent = _map(parent)
            if (
                parent.get("name") == gateway_name
                and (_str(parent.get("namespace")) or route.namespace) == gateway.namespace
                and _str(parent.get("sectionName")) in ("", section)
                and not _redirects(route)
            ):
                yield Finding(gateway.urn, f"{where} is plain HTTP and {route.label} serves it instead of redirecting")


def _redirects(route: Resource) -> bool:
    """Every rule redirects to https and none sends traffic to a backend."""
    rules = [_map(rule) for rule in _list(_map(route.props.get("spec")).get("rules"))]
    return (
        route.kind == "HTTPRoute"
        and bool(rules)
        and all(
            not _list(rule.get("backendRefs"))
            and any(
                _map(f).get("type") == "RequestRedirect"
                and _map(_map(f).get("requestRedirect")).get("scheme") == "https"
                for f in _list(rule.get("filters"))
            )
            for rule in rules
        )
    )


def production_acme(resources: Sequence[Resource]) -> Iterator[Finding]:
    """The production stack's edge certificates come from Let's Encrypt production, which browsers trust."""
    if not resources or not is_production(resources[0].stack):
        return
    for gateway in _of_kind(resources, "Gateway"):
        for listener in _list(_map(gateway.props.get("spec")).get("listeners")):
            listener = _map(listener)
            if listener.get("protocol") != "HTTPS":
                continue
            for ref in _list(_map(listener.get("tls")).get("certificateRefs")):
                certificate, _ = _certificate_for(gateway, _map(ref), resources)
                if certificate is None:
                    continue  # public_tls_acme reports it
                issuer = _str(_map(_map(certificate.props.get("spec")).get("issuerRef")).get("name"))
                if issuer not in (PRODUCTION_ISSUER, UNKNOWN):
                    yield Finding(
                        certificate.urn,
                        f"{certificate.label} (served by {gateway.label}) is issued by {issuer!r}; "
                        f"production serves {PRODUCTION_ISSUER}",
                    )


def production_aks_no_local_accounts(r: Resource) -> Iterator[str]:
    """The production cluster admits Entra ID identities only: no static admin kubeconfig exists."""
    if r.azure == "containerservice:ManagedCluster" and is_production(r.stack):
        value = r.props.get("disableLocalAccounts")
        if value is not True and value != UNKNOWN:
            yield f"{r.label}: disableLocalAccounts is {value!r}; production clusters must set it to true"


def no_interactive_credential(r: Resource) -> Iterator[str]:
    """A Kubernetes provider's kubeconfig holds a token or a certificate, never a login plugin or a prompt."""
    if r.type != "pulumi:providers:kubernetes":
        return
    kubeconfig = _str(r.props.get("kubeconfig"))
    if kubeconfig in ("", UNKNOWN, "[secret]"):
        return  # a context (kind) or a value only the engine sees; CrossGuard judges it unmasked at preview and up
    found = [word for word in INTERACTIVE_LOGIN if re.search(rf"(?<![\w-]){word}(?![\w-])", kubeconfig)]
    if found:
        yield (
            f"{r.label}: the kubeconfig logs in through {', '.join(found)}; CI has no one to answer a login"
            " prompt: give the provider a token (components/azure/aks_cluster.py)"
        )


def cluster_protected(resources: Sequence[Resource]) -> Iterator[Finding]:
    """The AKS cluster (its node group holds every datastore disk) and its control-plane identity carry `protect`."""
    for cluster in (r for r in resources if r.azure == CLUSTER):
        if not cluster.protect:
            yield Finding(cluster.urn, f"{cluster.label} holds every datastore volume; set protect=True")
        for identity in (r for r in resources if r.azure == IDENTITY and r.urn in cluster.dependencies):
            if not identity.protect:
                yield Finding(identity.urn, f"{identity.label} is {cluster.label}'s identity; set protect=True")


def zones_locked(resources: Sequence[Resource]) -> Iterator[Finding]:
    """Every DNS zone this stack owns has a CanNotDelete lock on it (or on a record set of it)."""
    locks = [r for r in resources if r.azure in LOCKS and _str(r.props.get("level")) in ("CanNotDelete", UNKNOWN)]
    for zone in (r for r in resources if r.azure == ZONE):
        if not any(zone.urn in lock.dependencies for lock in locks):
            yield Finding(
                zone.urn,
                f"{zone.label} has no CanNotDelete lock: `protect` stops only Pulumi, and a deleted zone loses its"
                " delegation",
            )


def least_privilege_roles(resources: Sequence[Resource]) -> Iterator[Finding]:
    """Built-in roles only from ALLOWED_BUILT_IN_ROLES on their kind of scope; custom roles without wide wildcards."""
    by_urn = {r.urn: r for r in resources}
    for grant in (r for r in resources if r.azure == ROLE_ASSIGNMENT):
        role = _str(grant.props.get("roleDefinitionId"))
        if role == UNKNOWN or "/roleDefinitions/" not in role:
            continue  # a custom role of this stack; judged below
        guid = role.rsplit("/", 1)[-1].lower()
        scope_kind = ALLOWED_BUILT_IN_ROLES.get(guid)
        if scope_kind is None:
            yield Finding(grant.urn, f"{grant.label} grants built-in role {guid}, which is wider than any job here")
            continue
        scopes = [by_urn[d] for d in grant.dependencies if d in by_urn and by_urn[d].azure == scope_kind]
        if not scopes:
            yield Finding(grant.urn, f"{grant.label} grants {guid} on something other than a {scope_kind}")
        for group in (s for s in scopes if s.azure == RESOURCE_GROUP):
            held = [r for r in resources if _holds(group, r) and r.azure and r.azure not in _GROUP_FURNITURE]
            others = sorted({r.azure for r in held} - {"network:PublicIPAddress"})
            if others:
                yield Finding(
                    grant.urn,
                    f"{grant.label} grants Network Contributor on {group.label}, which also holds {', '.join(others)}",
                )
    for definition in (r for r in resources if r.azure == ROLE_DEFINITION):
        for permission in _list(definition.props.get("permissions")):
            for key in ("actions", "dataActions"):
                wide = [a for a in _list(_map(permission).get(key)) if _too_wide(_str(a))]
                if wide:
                    yield Finding(definition.urn, f"{definition.label} {key} {', '.join(wide)}: wider than one type")


_GROUP_FURNITURE = (RESOURCE_GROUP, ROLE_ASSIGNMENT, *LOCKS)


def _too_wide(action: str) -> bool:
    """`*`, `Microsoft.X/*` and `Microsoft.X/type/*` reach every child of a type; `.../type/TXT/*` does not."""
    return action.endswith("*") and len(action.split("/")) <= 3


# --- mandatory: containers are sized, unprivileged and pinned ---------------------------------


def container_resources(r: Resource) -> Iterator[str]:
    """Every container requests and limits cpu and memory; so does every `resources` block of chart values."""
    for where, container in _containers(r):
        resources = _map(container.get("resources"))
        yield from _sized(f"{r.label} {where}", resources)
    if r.type in VALUES_LIKE:
        for path, value in _walk(_values_of(r)):
            if path and path[-1] == "resources" and isinstance(value, Mapping):
                yield from _sized(f"{r.label} {_dotted(path)}", value)


def _sized(where: str, resources: Mapping[str, Any]) -> Iterator[str]:
    for section in ("requests", "limits"):
        block = resources.get(section)
        if block == UNKNOWN:
            continue
        missing = [k for k in ("cpu", "memory") if k not in _map(block)]
        if missing:
            yield f"{where} has no {section} for {' and '.join(missing)}"


def container_security(r: Resource) -> Iterator[str]:
    """No privileged or root containers: runAsNonRoot set, no uid 0, no privilege escalation, no host namespaces."""
    pod = _pod_spec(r)
    if pod is not None:
        pod_context = _map(pod.get("securityContext"))
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag) is True:
                yield f"{r.label} sets {flag}: the pod shares the node's namespaces"
        if _int(pod_context.get("runAsUser")) == 0:
            yield f"{r.label} pod securityContext runs as uid 0 (root)"
        for where, container in _containers(r):
            context = _map(container.get("securityContext"))
            yield from _unsafe(f"{r.label} {where}", context)
            non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
            if non_root is not True and non_root != UNKNOWN:
                yield f"{r.label} {where} may run as root: runAsNonRoot is not true at pod or container level"
    if r.type in VALUES_LIKE:
        for path, value in _walk(_values_of(r)):
            if path and path[-1] in SECURITY_KEYS and isinstance(value, Mapping):
                yield from _unsafe(f"{r.label} {_dotted(path)}", value)
                if value.get("runAsNonRoot") is False:
                    yield f"{r.label} {_dotted(path)} sets runAsNonRoot: false"


def _unsafe(where: str, context: Mapping[str, Any]) -> Iterator[str]:
    if context.get("privileged") is True:
        yield f"{where} is privileged"
    if _int(context.get("runAsUser")) == 0:
        yield f"{where} runs as uid 0 (root)"
    if context.get("allowPrivilegeEscalation") is True:
        yield f"{where} allows privilege escalation"
    added = [c for c in _list(_map(context.get("capabilities")).get("add")) if c in DANGEROUS_CAPABILITIES]
    if added:
        yield f"{where} adds capabilities {', '.join(map(str, added))}"


def images_pinned(r: Resource) -> Iterator[str]:
    """Images carry a release tag or a digest (no :latest, no bare name), in manifests and in chart values."""
    for where, container in _containers(r):
        image = container.get("image")
        if image != UNKNOWN and not is_pinned(_str(image)):
            yield f"{r.label} {where} image {image!r} is not pinned to a tag or digest"
    if r.type in VALUES_LIKE:
        for path, value in _walk(_values_of(r)):
            if not path or path[-1] != "image":
                continue
            if isinstance(value, str) and value != UNKNOWN and not is_pinned(value):
                yield f"{r.label} {_dotted(path)} {value!r} is not pinned to a tag or digest"
            elif isinstance(value, Mapping):
                # No tag and no digest falls back to the chart's appVersion, which the chart version pins.
                tag = value.get("tag")
                if "tag" in value and tag != UNKNOWN and (not tag or str(tag) == "latest") and not value.get("digest"):
                    yield f"{r.label} {_dotted(path)}.tag is {tag!r}; use a release tag or a digest"


def is_pinned(image: str) -> bool:
    """repo:tag (not latest) or repo@sha256:...; the tag is looked for after the last `/` (a registry has ports)."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest"


# --- mandatory: every DNS zone limits who may issue for it -------------------------------------


def dns_zone_caa(resources: Sequence[Resource]) -> Iterator[Finding]:
    """Every Azure DNS zone has a CAA record set at its apex with an `issue` tag (RFC 8659)."""
    records = [r for r in resources if r.azure == "dns:RecordSet" and _record_type(r) == "CAA"]
    for zone in (r for r in resources if r.azure == "dns:Zone"):
        apex = [rec for rec in records if _relative_name(rec) == "@" and _in_zone(rec, zone)]
        if not any(_map(c).get("tag") == "issue" for rec in apex for c in _list(rec.props.get("caaRecords"))):
            yield Finding(
                zone.urn, f"{zone.label} has no CAA record set at @ with an issue tag; any CA may issue for it"
            )


def _record_type(r: Resource) -> str:
    """recordType as an input; outputs only carry `type` (Microsoft.Network/dnszones/CAA)."""
    return _str(r.props.get("recordType")) or _str(r.props.get("type")).rsplit("/", 1)[-1]


def _relative_name(r: Resource) -> str:
    return _str(r.props.get("relativeRecordSetName")) or _str(r.props.get("name"))


def _in_zone(record: Resource, zone: Resource) -> bool:
    if record.parent == zone.urn or zone.urn in record.dependencies:
        return True
    name = _str(zone.props.get("zoneName"))
    return bool(name) and name != UNKNOWN and _str(record.props.get("zoneName")) == name


# --- advisory ------------------------------------------------------------------------------------


def pull_policy_always(r: Resource) -> Iterator[str]:
    """Pinned images never change under a tag: Always adds a registry round trip (and outage) to every start."""
    for where, container in _containers(r):
        if container.get("imagePullPolicy") == "Always":
            yield f"{r.label} {where} has imagePullPolicy Always; IfNotPresent suits pinned images"
    if r.type in VALUES_LIKE:
        for path, value in _walk(_values_of(r)):
            if path and path[-1] in ("pullPolicy", "imagePullPolicy") and value == "Always":
                yield f"{r.label} {_dotted(path)} is Always; IfNotPresent suits pinned images"


def liveness_probes(r: Resource) -> Iterator[str]:
    """Long-running containers have a liveness probe, so a hung process is restarted."""
    if r.kind not in LONG_RUNNING:
        return
    pod = _pod_spec(r) or {}
    for container in _list(pod.get("containers")):
        container = _map(container)
        if not container.get("livenessProbe"):
            yield f"{r.label} container {_str(container.get('name'))!r} has no liveness probe"


def single_replica_budgets(resources: Sequence[Resource]) -> Iterator[Finding]:
    """A PodDisruptionBudget over one replica blocks every node drain until someone deletes the pod."""
    budgets = [r for r in resources if r.kind == "PodDisruptionBudget"]
    for workload in resources:
        if workload.kind not in ("Deployment", "StatefulSet"):
            continue
        spec = _map(workload.props.get("spec"))
        replicas = _int(spec.get("replicas"))
        labels = _map(_map(_map(spec.get("template")).get("metadata")).get("labels"))
        if replicas is None or replicas > 1:
            continue
        for budget in budgets:
            if budget.namespace == workload.namespace and _selects(budget, labels):
                yield Finding(budget.urn, f"{budget.label} covers {workload.label}, which runs {replicas} replica")


def namespace_network_policy(resources: Sequence[Resource]) -> Iterator[Finding]:
    """Every namespace the program declares has at least one NetworkPolicy (the cluster's default admits all)."""
    fenced = {r.namespace for r in resources if r.kind == "NetworkPolicy"}
    for ns in _of_kind(resources, "Namespace"):
        name = _str(ns.metadata.get("name"))
        if name and name != UNKNOWN and name not in fenced:
            yield Finding(ns.urn, f"{ns.label} has no NetworkPolicy; every pod in it accepts traffic from anywhere")


def chart_version(r: Resource) -> Iterator[str]:
    """Charts are pinned: without a version, the repository's newest chart is installed."""
    if r.is_helm and not _str(r.props.get("version")):
        yield f"{r.label} has no chart version; the repository's newest would be installed"


# --- the pack -------------------------------------------------------------------------------------

POLICIES: tuple[Policy, ...] = (
    Policy(
        "stateful-resources-protected",
        "DNS zones, public IPs, storage accounts and containers, their resource groups, and (in cloud) "
        "volume-backed stores are protected.",
        MANDATORY,
        "stack",
        stateful_protected,
    ),
    Policy(
        "cloud-datastore-quorum",
        "Cloud datastores run at least 3 members spread over zones, with a disruption budget that keeps a quorum.",
        MANDATORY,
        "stack",
        cloud_datastore_quorum,
    ),
    Policy(
        "public-tls-acme",
        "In cloud, every HTTPS listener serves a certificate from a letsencrypt-* ACME ClusterIssuer and every "
        "HTTP listener only redirects to HTTPS.",
        MANDATORY,
        "stack",
        public_tls_acme,
    ),
    Policy(
        "production-acme",
        "The production stack's edge certificates come from letsencrypt-prod.",
        MANDATORY,
        "stack",
        production_acme,
    ),
    Policy(
        "production-aks-no-local-accounts",
        "The production AKS cluster sets disableLocalAccounts: true (Entra ID only).",
        MANDATORY,
        "resource",
        production_aks_no_local_accounts,
    ),
    Policy(
        "no-interactive-credential",
        "No Kubernetes provider's kubeconfig logs in through an exec plugin, an auth provider or a prompt.",
        MANDATORY,
        "resource",
        no_interactive_credential,
    ),
    Policy(
        "cluster-protected",
        "The AKS cluster and its control-plane identity are protected.",
        MANDATORY,
        "stack",
        cluster_protected,
    ),
    Policy(
        "dns-zones-locked",
        "Every DNS zone has a CanNotDelete management lock.",
        MANDATORY,
        "stack",
        zones_locked,
    ),
    Policy(
        "least-privilege-roles",
        "Role assignments use only the allowed built-in roles on their kind of scope; custom roles have no "
        "provider- or type-wide wildcard.",
        MANDATORY,
        "stack",
        least_privilege_roles,
    ),
    Policy(
        "container-resources",
        "Every container, and every resources block of chart values, requests and limits cpu and memory.",
        MANDATORY,
        "resource",
        container_resources,
    ),
    Policy(
        "container-security",
        "No privileged or root containers: runAsNonRoot, no uid 0, no privilege escalation, no host namespaces.",
        MANDATORY,
        "resource",
        container_security,
    ),
    Policy(
        "images-pinned",
        "Images are pinned to a release tag or digest (no :latest, no bare names), in manifests and chart values.",
        MANDATORY,
        "resource",
        images_pinned,
    ),
    Policy(
        "dns-zone-caa",
        "Every DNS zone has a CAA record set at @ naming the CA that may issue for it.",
        MANDATORY,
        "stack",
        dns_zone_caa,
    ),
    Policy(
        "image-pull-policy",
        "Pinned images do not need imagePullPolicy Always.",
        ADVISORY,
        "resource",
        pull_policy_always,
    ),
    Policy(
        "liveness-probes",
        "Long-running containers have a liveness probe.",
        ADVISORY,
        "resource",
        liveness_probes,
    ),
    Policy(
        "single-replica-pdb",
        "No PodDisruptionBudget covers a single-replica workload (it would block node drains).",
        ADVISORY,
        "stack",
        single_replica_budgets,
    ),
    Policy(
        "namespace-network-policy",
        "Every declared namespace has at least one NetworkPolicy.",
        ADVISORY,
        "stack",
        namespace_network_policy,
    ),
    Policy(
        "helm-chart-version",
        "Every Helm chart names its version.",
        ADVISORY,
        "resource",
        chart_version,
    ),
)


# --- shared helpers -------------------------------------------------------------------------------


def is_cloud(resources: Sequence[Resource]) -> bool:
    """A stack is in the cloud when it declares Azure resources (its environment's cloud is azure)."""
    return any(r.azure for r in resources)


def is_production(stack: str) -> bool:
    return stack == PRODUCTION_STACK or stack.startswith(PRODUCTION_STACK + "-")


def chart_name(r: Resource) -> str:
    """The chart's own name: `cockroachdb` from `cockroachdb`, `repo/nats` or `oci://registry/nats`."""
    return _str(r.props.get("chart")).rstrip("/").rsplit("/", 1)[-1]


def _of_kind(resources: Sequence[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r.kind == kind]


def _pod_spec(r: Resource) -> Mapping[str, Any] | None:
    if r.kind not in WORKLOADS:
        return None
    spec = _map(r.props.get("spec"))
    if r.kind == "Pod":
        return spec
    if r.kind == "CronJob":
        spec = _map(_map(spec.get("jobTemplate")).get("spec"))
    return _map(_map(spec.get("template")).get("spec"))


def _containers(r: Resource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(`container 'name'`, container) for every container and init container of a workload."""
    pod = _pod_spec(r)
    if pod is None:
        return
    for field, what in (("initContainers", "init container"), ("containers", "container")):
        for container in _list(pod.get(field)):
            container = _map(container)
            yield f"{what} {_str(container.get('name'))!r}", container


def _values_of(r: Resource) -> Mapping[str, Any]:
    """Chart values, or the spec of a resource that configures containers (EnvoyProxy)."""
    return _map(r.props.get("values")) if r.is_helm else _map(r.props.get("spec"))


def _walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, value) for every mapping entry and list item below `value`."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield (*path, str(key)), item
            yield from _walk(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, f"[{index}]"))


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[", "[")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    """Whole numbers as ints (the wire form makes every number a float); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
