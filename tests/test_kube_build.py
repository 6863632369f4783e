"""The test plane's CRDs are generated at the versions the environments deploy (scripts/kube-build/crds)."""

from __future__ import annotations

import re

import pytest

from infra.config.loader import load_environment
from tests.conftest import ROOT

CRDS_MOD = ROOT / "scripts" / "kube-build" / "crds" / "go.mod"


def required() -> dict[str, str]:
    """module → version of every direct requirement of the CRD build module."""
    text = CRDS_MOD.read_text()
    block = re.search(r"^require \((.*?)^\)", text, re.M | re.S)
    assert block, f"{CRDS_MOD}: no require block"
    return dict(re.findall(r"^\t(\S+) (v\S+)$", block.group(1), re.M))


@pytest.mark.parametrize("env_name", ["local", "parity", "staging", "platform"])
def test_crd_sources_are_the_environment_pins(env_name: str) -> None:
    charts = load_environment(ROOT / "environments" / f"{env_name}.yaml").release.charts
    modules = required()
    assert modules["github.com/cert-manager/cert-manager"] == charts.cert_manager, "cert-manager CRDs"
    assert modules["github.com/envoyproxy/gateway"] == charts.envoy_gateway, "Envoy Gateway CRDs"
