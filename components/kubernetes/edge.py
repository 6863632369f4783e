"""The edge: Envoy Gateway terminating TLS for api, web and proxy and routing to micro's Services.

Deploys the `envoy-gateway-system` namespace, the Gateway API and Envoy Gateway CRDs (their own chart), the
Envoy Gateway chart (the controller), the GatewayClass `envoy`, one cert-manager Certificate per endpoint, and Gateways:
- cloud: one Gateway per endpoint (api, web, proxy), each with its own EnvoyProxy whose LoadBalancer Service
  takes that endpoint's static public IP, so every host keeps its address across Gateway re-creation;
- local: one Gateway `edge-local` for all hosts, whose Service is a NodePort on KIND_HTTP_NODE_PORT and
  KIND_HTTPS_NODE_PORT, which the kind config maps to the laptop's ports 80 and 443. Three Gateways would need
  three host port pairs, and kind has no load balancer to give them addresses.
Routes live next to their backends (HTTPRoute for http, GRPCRoute for grpc) and attach across namespaces;
http endpoints also get an HTTP listener whose only route redirects to https.

Expects: cert-manager and the `issuer` ClusterIssuer; a gRPC backend's Service port declaring
`appProtocol: kubernetes.io/h2c`, so Envoy speaks cleartext HTTP/2 to it. Leaves out: DNS records (they point
at the public IPs), WAF, rate limits, and routes for user namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.helm.v3 import Release
from pulumi_kubernetes.helm.v4 import Chart, ChartArgs

from components.kubernetes.contracts import EDGE_NAMESPACE, Backend, CloudBindings
from components.kubernetes.objects import Namespace
from infra.config.model import Hosts

KIND_HTTP_NODE_PORT = 30080
"""Node port of the local Gateway's port 80; templates/kind-config.yaml.j2 maps host port 80 to it."""
KIND_HTTPS_NODE_PORT = 30443
"""Node port of the local Gateway's port 443; templates/kind-config.yaml.j2 maps host port 443 to it."""
CHART = "oci://docker.io/envoyproxy/gateway-helm"
CRDS_CHART = "oci://docker.io/envoyproxy/gateway-crds-helm"
"""Same version as CHART: the Gateway API and Envoy Gateway CRDs that release expects."""
GATEWAY_CLASS = "envoy"
CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
CERT_API = "cert-manager.io/v1"
ROLES = ("api", "web", "proxy")
LOCAL_GATEWAY = "local"
PIP_NAME = "service.beta.kubernetes.io/azure-pip-name"
PIP_RESOURCE_GROUP = "service.beta.kubernetes.io/azure-load-balancer-resource-group"
_POD_SECURITY_LABELS = {
    # restricted: the chart's controller and certgen pods pass it (rendered at v1.9, charts-review), and so do
    # the Envoy proxy pods the controller creates here at run time: every container starts from
    # resource.DefaultSecurityContext (no privilege escalation, ALL capabilities dropped, non-root, RuntimeDefault
    # seccomp) and an EnvoyProxy can only merge over it (envoyproxy/gateway v1.9.1,
    # internal/infrastructure/kubernetes/proxy/resource.go expectedEnvoySecurityContext; GHSA-w42f-28h3-998w).
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
}


@dataclass(frozen=True)
class EdgeArgs:
    version: str
    """Envoy Gateway chart version, pinned by the environment's `release.charts.envoy_gateway`."""
    hosts: Hosts
    """Public hostnames; `apps` (the user-app wildcard) is served by the api endpoint."""
    issuer: pulumi.Input[str]
    """ClusterIssuer for the edge certificates: Let's Encrypt in cloud, the internal CA in local."""
    backends: dict[str, Backend]
    """api, web and proxy → the micro Service each endpoint routes to."""
    cloud: CloudBindings | None
    """Static public IP names and their resource group; None (local) selects the single NodePort Gateway."""
    enabled: bool = True
    """False leaves out the chart (offline renders); the Gateway API objects are still declared."""


class Edge(pulumi.ComponentResource):
    """Envoy Gateway, the Gateways in front of api, web and proxy, their certificates and routes."""

    gateways: dict[str, pulumi.Output[str]]
    """Gateway name per endpoint (api, web, proxy); in local all three name `edge-local`."""
    certificates: dict[str, pulumi.Output[str]]
    """TLS Secret name per endpoint, in EDGE_NAMESPACE."""

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:Edge", name, None, opts)
        missing = [role for role in ROLES if role not in args.backends]
        if missing:
            raise ValueError(f"backends: no backend for {', '.join(missing)}; the edge routes {', '.join(ROLES)}")
        child = pulumi.ResourceOptions(parent=self)
        ha = args.cloud is not None

        namespace = Namespace(
            f"{name}-namespace",
            metadata={"name": EDGE_NAMESPACE, "labels": {**_labels(), **_POD_SECURITY_LABELS}},
            opts=child,
        )
        ns = namespace.object_name
        crds: list[pulumi.Resource] = []
        if args.enabled:
            # The CRDs come from their own chart, rendered by helm.v4.Chart and applied object by object
            # (server-side), so each CRD is a Pulumi resource that changes with the version: Helm installs a
            # chart's crds/ on first install only and never upgrades them. The chart has no hooks to lose.
            crds.append(
                Chart(
                    f"{name}-crds",
                    ChartArgs(chart=CRDS_CHART, version=args.version, namespace=ns, values=CRDS_VALUES),
                    child,
                )
            )
            # helm.v3.Release, not helm.v4.Chart: the chart's certgen Job, which creates the TLS Secrets between
            # the controller and the Envoy proxies, is a pre-install/pre-upgrade hook, and v4.Chart skips hooks
            # (pulumi-kubernetes#3284), which would leave the controller waiting for a Secret that never comes.
            crds.append(
                Release(
                    f"{name}-chart",
                    name="envoy-gateway",
                    chart=CHART,
                    version=args.version,
                    namespace=ns,
                    create_namespace=False,  # declared above, with labels
                    skip_crds=True,  # the CRDs chart above owns them
                    values=chart_values(ha),
                    cleanup_on_fail=True,
                    timeout=600,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=crds[:1]),
                )
            )
        # depends_on, not data: the CRDs come from the chart, and nothing here reads the release.
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=crds)

        spec = {"controllerName": CONTROLLER}
        gateway_class = _object(f"{name}-class", GATEWAY_API, "GatewayClass", GATEWAY_CLASS, None, spec, after_crds)

        hosts = endpoint_hosts(args.hosts)
        self.certificates = {}
        for role in ROLES:
            spec = certificate_spec(role, list(hosts[role].values()), args.issuer)
            # No depends_on: the issuer name is a data edge to the ClusterIssuer, and so to cert-manager.
            certificate = _object(f"{name}-{role}-cert", CERT_API, "Certificate", f"edge-{role}", ns, spec, child)
            self.certificates[role] = _field(certificate, "spec", "secretName")

        self.gateways = {}
        for group, roles in gateway_roles(ha).items():
            spec = envoy_proxy_spec(f"edge-{group}", args.cloud, group)
            proxy = _object(f"{name}-{group}-envoy", ENVOY_API, "EnvoyProxy", f"edge-{group}", ns, spec, after_crds)
            listeners = [
                listener
                for role in roles
                for listener in role_listeners(hosts[role], args.backends[role], self.certificates[role])
            ]
            spec = gateway_spec(_field(gateway_class, "metadata", "name"), _field(proxy, "metadata", "name"), listeners)
            gateway = _object(f"{name}-{group}-gateway", GATEWAY_API, "Gateway", f"edge-{group}", ns, spec, after_crds)
            for role in roles:
                self.gateways[role] = _field(gateway, "metadata", "name")

        for role in ROLES:
            backend, gateway_name = args.backends[role], self.gateways[role]
            kind = "GRPCRoute" if backend.protocol == "grpc" else "HTTPRoute"
            spec = route_spec(hosts[role], backend, gateway_name)
            _object(f"{name}-{role}-route", GATEWAY_API, kind, f"edge-{role}", backend.namespace, spec, after_crds)
            if backend.protocol == "http":
                spec = redirect_spec(hosts[role], gateway_name)
                redirect = f"edge-{role}-redirect"
                _object(f"{name}-{role}-redirect", GATEWAY_API, "HTTPRoute", redirect, ns, spec, after_crds)

        self.register_outputs({"gateways": self.gateways, "certificates": self.certificates})


def endpoint_hosts(hosts: Hosts) -> dict[str, dict[str, str]]:
    """Endpoint → {listener stem: hostname}. The apps wildcard rides on api (MICRO_API_RESOLVER=subdomain)."""
    return {"api": {"api": hosts.api, "apps": hosts.apps}, "web": {"web": hosts.web}, "proxy": {"proxy": hosts.proxy}}


def gateway_roles(cloud: bool) -> dict[str, tuple[str, ...]]:
    """Gateway → the endpoints it serves: one each in cloud (one public IP each), one for all in local."""
    return {role: (role,) for role in ROLES} if cloud else {LOCAL_GATEWAY: ROLES}


def certificate_spec(role: str, dns_names: list[str], issuer: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "secretName": f"edge-{role}-tls",
        "secretTemplate": {"labels": _labels()},
        "dnsNames": dns_names,
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["digital signature", "server auth"],
    }


def gateway_spec(
    gateway_class: pulumi.Input[str], envoy_proxy: pulumi.Input[str], listeners: list[dict[str, Any]]
) -> dict[str, Any]:
    parameters = {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": envoy_proxy}
    return {"gatewayClassName": gateway_class, "infrastructure": {"parametersRef": parameters}, "listeners": listeners}


def role_listeners(hosts: dict[str, str], backend: Backend, secret: pulumi.Input[str]) -> list[dict[str, Any]]:
    """An HTTPS listener per host admitting only the backend's namespace, plus HTTP (redirect only) for http."""
    route_kind = "GRPCRoute" if backend.protocol == "grpc" else "HTTPRoute"
    only_backend = {"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": backend.namespace}}}
    tls = {"mode": "Terminate", "certificateRefs": [{"group": "", "kind": "Secret", "name": secret}]}
    out: list[dict[str, Any]] = []
    for stem, host in hosts.items():
        https = {"name": f"https-{stem}", "protocol": "HTTPS", "port": 443, "hostname": host, "tls": tls}
        out.append({**https, "allowedRoutes": _allowed(only_backend, route_kind)})
        if backend.protocol == "http":
            # Only the edge's own redirect route may attach: nothing is served in cleartext.
            http = {"name": f"http-{stem}", "protocol": "HTTP", "port": 80, "hostname": host}
            out.append({**http, "allowedRoutes": _allowed({"from": "Same"}, "HTTPRoute")})
    return out


def _allowed(namespaces: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"namespaces": namespaces, "kinds": [{"group": GATEWAY_GROUP, "kind": kind}]}


def route_spec(hosts: dict[str, str], backend: Backend, gateway: pulumi.Input[str]) -> dict[str, Any]:
    """All requests for the endpoint's hosts → the backend Service (an HTTPRoute or GRPCRoute spec)."""
    rule: dict[str, Any] = {
        "backendRefs": [{"group": "", "kind": "Service", "name": backend.service, "port": backend.port}]
    }
    if backend.protocol != "grpc":
        rule["matches"] = [{"path": {"type": "PathPrefix", "value": "/"}}]
    return {"parentRefs": _parents(hosts, gateway, "https"), "hostnames": list(hosts.values()), "rules": [rule]}


def redirect_spec(hosts: dict[str, str], gateway: pulumi.Input[str]) -> dict[str, Any]:
    """http://host/path → https://host/path (301; the port becomes 443, the scheme's well-known port)."""
    redirect = {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    return {
        "parentRefs": _parents(hosts, gateway, "http"),
        "hostnames": list(hosts.values()),
        "rules": [{"filters": [redirect]}],
    }


def _parents(hosts: dict[str, str], gateway: pulumi.Input[str], scheme: str) -> list[dict[str, Any]]:
    return [
        {
            "group": GATEWAY_GROUP,
            "kind": "Gateway",
            "namespace": EDGE_NAMESPACE,
            "name": gateway,
            "sectionName": f"{scheme}-{stem}",
        }
        for stem in hosts
    ]


def envoy_proxy_spec(gateway: str, cloud: CloudBindings | None, group: str) -> dict[str, Any]:
    """Envoy's Deployment and Service for one Gateway: static public IP in cloud, fixed node ports in local.

    The envoy container keeps Envoy Gateway's security context (uid 65532, no privilege escalation, all
    capabilities dropped, RuntimeDefault seccomp) but not a read-only root filesystem: Envoy writes there.
    """
    service: dict[str, Any]
    if cloud is not None:
        service = {
            "type": "LoadBalancer",
            "annotations": {PIP_NAME: cloud.public_ip_names[group], PIP_RESOURCE_GROUP: cloud.resource_group},
            # Keeps the client's source IP and skips the second hop between nodes.
            "externalTrafficPolicy": "Local",
        }
    else:
        ports = [{"port": 80, "nodePort": KIND_HTTP_NODE_PORT}, {"port": 443, "nodePort": KIND_HTTPS_NODE_PORT}]
        service = {
            "type": "NodePort",
            "externalTrafficPolicy": "Local",  # kind has one node; the policy changes nothing there
            # Envoy Gateway has no field for node ports: patch them onto its generated Service (merged by port).
            "patch": {"type": "StrategicMerge", "value": {"spec": {"ports": ports}}},
        }
    kubernetes: dict[str, Any] = {
        "envoyDeployment": {
            "replicas": 2 if cloud is not None else 1,
            "pod": {"topologySpreadConstraints": _zone_spread({"gateway.envoyproxy.io/owning-gateway-name": gateway})},
            # Envoy Gateway caps Envoy's heap at 80% of the memory limit.
            "container": {"resources": _resources("100m", "128Mi", "1", "512Mi")},
        },
        "envoyService": service,
    }
    if cloud is not None:
        kubernetes["envoyPDB"] = {"minAvailable": 1}
    return {"provider": {"type": "Kubernetes", "kubernetes": kubernetes}}


CRDS_VALUES = {
    "crds": {
        # The chart's default channel; the controller also serves the experimental routes (TLS, TCP, UDP).
        "gatewayAPI": {"enabled": True, "channel": "experimental"},
        "envoyGateway": {"enabled": True},
    }
}


def chart_values(ha: bool) -> dict[str, Any]:
    """The controller: two replicas spread over zones in cloud (it elects a leader), one in local."""
    return {
        "crds": {"enabled": False},  # from CRDS_CHART
        "config": {"envoyGateway": {"gateway": {"controllerName": CONTROLLER}}},
        "deployment": {
            "replicas": 2 if ha else 1,
            "envoyGateway": {"resources": _resources("100m", "256Mi", "500m", "1024Mi")},
            "pod": {"topologySpreadConstraints": _zone_spread({"control-plane": "envoy-gateway"})},
        },
        # 0 means no PodDisruptionBudget, which a single local replica could never satisfy.
        "podDisruptionBudget": {"minAvailable": 1 if ha else 0},
    }


def _zone_spread(match_labels: dict[str, str]) -> list[dict[str, Any]]:
    """One replica per zone where possible; ScheduleAnyway so kind's unlabelled single node still schedules."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": match_labels},
        }
    ]


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def _object(
    resource_name: str,
    api_version: str,
    kind: str,
    name: str,
    namespace: pulumi.Input[str] | None,
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> CustomResource:
    """A custom resource with the explicit name and the labels every object carries."""
    metadata: dict[str, Any] = {"name": name, "labels": _labels()}
    if namespace is not None:
        metadata["namespace"] = namespace
    return CustomResource(resource_name, api_version=api_version, kind=kind, metadata=metadata, spec=spec, opts=opts)


def _field(resource: CustomResource, section: str, key: str) -> pulumi.Output[str]:
    """`section.key` of a custom resource's outputs, e.g. metadata.name: a value that depends on the resource."""
    return pulumi.Output.from_input(getattr(resource, section)).apply(lambda v: str(v[key]))


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "edge",
        "app.kubernetes.io/part-of": "micro",
        "app.kubernetes.io/managed-by": "pulumi",
    }
