"""The internal CA: a private root that cert-manager keeps and signs with.

Deploys a self-signed ClusterIssuer that exists only to bootstrap, the CA Certificate it signs (key and
certificate in the Secret `micro-internal-ca` in cert-manager's namespace), and the CA ClusterIssuer that signs
with that Secret. The CA signs the datastores' mTLS certificates, micro's JWT keypair and, in `local`, the
edge certificates.

Expects: cert-manager running (its CRDs come from the chart: `crds`). Leaves out: distributing the CA
certificate to clients; every Secret cert-manager issues carries it as `ca.crt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components.kubernetes.cert_manager import NAMESPACE as CERT_MANAGER_NAMESPACE

API_VERSION = "cert-manager.io/v1"
BOOTSTRAP_ISSUER = "selfsigned-bootstrap"
CA_CERTIFICATE = "micro-internal-ca"
CA_SECRET = "micro-internal-ca"
CA_ISSUER = "internal-ca"
CA_DURATION = "87600h"
"""10 years: rotating the root means re-issuing every leaf, so it should happen by choice, not by expiry."""
CA_RENEW_BEFORE = "720h"
"""30 days before expiry."""


@dataclass(frozen=True)
class InternalCaArgs:
    crds: Sequence[pulumi.Resource]
    """cert-manager's CRDs (CertManager.crds); every custom resource here depends on them."""


class InternalCa(pulumi.ComponentResource):
    """selfsigned-bootstrap → CA Certificate micro-internal-ca → ClusterIssuer internal-ca."""

    issuer_name: pulumi.Output[str]
    """Name of the CA ClusterIssuer, read from the resource so consumers get a data edge to it."""

    def __init__(self, name: str, args: InternalCaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("micro-infra:kubernetes:InternalCa", name, None, opts)
        # depends_on, not data: the CRDs come from the cert-manager chart, and nothing here reads them.
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=list(args.crds))

        bootstrap = CustomResource(
            f"{name}-bootstrap-issuer",
            api_version=API_VERSION,
            kind="ClusterIssuer",
            metadata={"name": BOOTSTRAP_ISSUER, "labels": _labels()},
            spec={"selfSigned": {}},
            opts=after_crds,
        )
        certificate = CustomResource(
            f"{name}-certificate",
            api_version=API_VERSION,
            kind="Certificate",
            # A ClusterIssuer reads its CA Secret from cert-manager's cluster resource namespace, which is the
            # namespace cert-manager runs in; the Certificate must write it there.
            metadata={"name": CA_CERTIFICATE, "namespace": CERT_MANAGER_NAMESPACE, "labels": _labels()},
            spec=ca_certificate_spec(_field(bootstrap, "metadata", "name")),
            opts=after_crds,
        )
        issuer = CustomResource(
            f"{name}-issuer",
            api_version=API_VERSION,
            kind="ClusterIssuer",
            metadata={"name": CA_ISSUER, "labels": _labels()},
            spec={"ca": {"secretName": _field(certificate, "spec", "secretName")}},
            opts=after_crds,
        )

        self.issuer_name = _field(issuer, "metadata", "name")
        self.register_outputs({"issuer_name": self.issuer_name})


def ca_certificate_spec(bootstrap_issuer: pulumi.Input[str]) -> dict[str, Any]:
    """The root: ECDSA P-256, 10 years, key kept on renewal.

    ECDSA P-256 rather than RSA 4096: every party that verifies this CA is Go (etcd, NATS, CockroachDB, micro)
    or OpenSSL, all of which handle P-256; it gives ~128-bit security (more than RSA 3072) with 64-byte
    signatures and signing that is orders of magnitude cheaper than RSA 4096, which matters on every mTLS
    handshake and every leaf renewal. micro's JWT keypair stays RSA (its own Certificate chooses that key).
    """
    return {
        "isCA": True,
        "commonName": "micro internal CA",
        "subject": {"organizations": ["m3o"]},
        "duration": CA_DURATION,
        "renewBefore": CA_RENEW_BEFORE,
        "secretName": CA_SECRET,
        "privateKey": {
            "algorithm": "ECDSA",
            "size": 256,
            # Renewal re-signs the same key (cert-manager's default since v1.18 is Always), so leaves issued
            # before a renewal keep verifying against the renewed CA certificate.
            "rotationPolicy": "Never",
        },
        "usages": ["cert sign", "crl sign", "digital signature"],
        "issuerRef": {"name": bootstrap_issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def _field(resource: CustomResource, section: str, key: str) -> pulumi.Output[str]:
    """`section.key` of a custom resource's outputs, e.g. metadata.name: a value that depends on the resource."""
    return pulumi.Output.from_input(getattr(resource, section)).apply(lambda v: str(v[key]))


def _labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "internal-ca",
        "app.kubernetes.io/part-of": "micro",
        "app.kubernetes.io/managed-by": "pulumi",
    }
