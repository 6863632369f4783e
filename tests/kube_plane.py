"""A throwaway Kubernetes control plane on 127.0.0.1 for the engine tests (binaries: scripts/ensure-kube).

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, each a child process stopped by
its PID. kwok manages one fake Node (Pods on it become Running and Ready without containers) and fakes
volume provisioning for the StorageClass `standard`. The Pod and Service ranges are RFC 5737
documentation blocks (RFC 5737 §3: 192.0.2.0/24 TEST-NET-1, 198.51.100.0/24 TEST-NET-2): the endpoint
controllers refuse loopback addresses, and these exist only as strings in the API (no kube-proxy, no
CNI, kwok runs nothing), so no packet is ever sent to them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

POD_CIDR = "192.0.2.0/24"
SERVICE_CIDR = "198.51.100.0/24"
KUBERNETES_SERVICE_IP = "198.51.100.1"
"""The first address of the Service range: the `kubernetes` Service, so a SAN of the serving cert."""
CONTEXT = "micro-infra-test"
NODE = "kwok-node-0"
STORAGE_CLASS = "standard"
"""kind's default StorageClass, which the local stacks' claims name (environments/local.yaml). A real
kind cluster ships it (rancher local-path); this plane has no provisioner of its own, so the class is
created here and kwok's volume stages play the provisioner, binding each claim to a fake PV."""
KWOK_STAGE_CLASS = "kwok-volume"
"""The class name kwok's own volume stages select on (kustomize/stage/volume/fast in the kwok module)."""
NODE_STAGES = ("node-initialize", "pod-ready", "pod-complete", "pod-delete")
"""No heartbeat stage: nothing reads the node's lease or heartbeats (see NODE_HEALTH)."""
VOLUME_STAGES = ("pvc-provision", "pv-bind", "pv-delete", "pvc-delete")
NODE_HEALTH = "node-lifecycle-controller"
"""Left out, with the TaintNodesByCondition admission plugin that only it undoes: on a starved machine kwok's
lease renewals can arrive late, and the controller then taints the one Node not-ready (NoSchedule, then
NoExecute), which leaves Pods Pending or evicts them. The fake node's health is not under test."""


def ensure_kube(build: bool) -> tuple[int, Path | None, str]:
    """(exit code, bin dir, stderr) of scripts/ensure-kube: --check unless `build` (CI builds it)."""
    args = [str(ROOT / "scripts" / "ensure-kube"), *([] if build else ["--check"])]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    return done.returncode, Path(lines[-1]) if done.returncode == 0 and lines else None, done.stderr


def start_plane(work: Path) -> Plane:
    """A started plane under `work`. Outside CI a missing build skips (with the command that builds it);
    in CI (`CI` set) the binaries must be there: .ci/run builds them, so their absence fails."""
    import pytest

    in_ci = bool(os.environ.get("CI"))
    code, bin_dir, stderr = ensure_kube(build=in_ci)
    if bin_dir is None:
        if in_ci:
            pytest.fail(f"scripts/ensure-kube failed in CI (exit {code}):\n{stderr[-3000:]}")
        pytest.skip("no Kubernetes control plane built: run scripts/ensure-kube (about 15 min cold, once)")
    plane = Plane(bin_dir, work)
    try:
        plane.start(bin_dir.parent / "kwok-stages", bin_dir.parent / "crds")
    except BaseException:
        plane.stop()
        raise
    return plane


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(work: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True, timeout=60)


def _pki(work: Path) -> None:
    """A CA, the API server's serving cert, one admin client cert (system:masters), the SA key pair."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(work, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test-ca")
    sans = ",".join(
        [
            "IP:127.0.0.1",
            f"IP:{KUBERNETES_SERVICE_IP}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    for name, subject, ext in (
        ("apiserver", "/CN=kube-apiserver", f"subjectAltName={sans}"),
        ("admin", "/O=system:masters/CN=admin", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(work, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        (work / f"{name}.ext").write_text(ext + "\n")
        _openssl(
            work, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        )  # fmt: skip
    _openssl(work, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key")
    _openssl(work, "ec", "-in", "sa.key", "-pubout", "-out", "sa.pub")


@dataclass
class Plane:
    """A running plane: its kubeconfig (context CONTEXT) and the child processes to stop."""

    bin: Path
    work: Path
    kubeconfig: Path = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kubeconfig = self.work / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """KUBECONFIG for the provider and kubectl."""
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done

    def apply(self, objects: list[dict[str, Any]], *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Server-side apply with strict field validation (the API server checks every field)."""
        text = yaml.safe_dump_all(objects, sort_keys=False)
        return self.kubectl(
            "apply",
            "--server-side",
            "--field-manager",
            "micro-infra-test",
            "--validate=strict",
            "-f",
            "-",
            *extra,
            stdin=text,
            check=check,
        )

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.work / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [str(self.bin / name.split(":")[0]), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.work,
            start_new_session=True,
        )

    def _wait(self, what: str, ready: Any, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    tail = (self.work / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited ({process.returncode}) while waiting for {what}:\n{tail}")
            if ready():
                return
            time.sleep(0.25)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")

    def start(self, stages: Path, crds: Path) -> None:
        """Start every piece, then install `crds` (controller-gen's output) and wait until all are served."""
        _pki(self.work)
        etcd_client, etcd_peer, secure = _free_port(), _free_port(), _free_port()
        self._spawn(
            "etcd",
            "--name", "plane", "--data-dir", str(self.work / "etcd"), "--unsafe-no-fsync", "--log-level", "warn",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_client}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"plane=http://127.0.0.1:{etcd_peer}",
        )  # fmt: skip
        w = str(self.work)
        self._spawn(
            "kube-apiserver",
            "--etcd-servers", f"http://127.0.0.1:{etcd_client}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(secure),
            "--tls-cert-file", f"{w}/apiserver.crt", "--tls-private-key-file", f"{w}/apiserver.key",
            "--client-ca-file", f"{w}/ca.crt", "--authorization-mode", "Node,RBAC",
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", f"{w}/sa.pub", "--service-account-signing-key-file", f"{w}/sa.key",
            "--service-cluster-ip-range", SERVICE_CIDR, "--profiling=false", "--cert-dir", f"{w}/certs",
            "--disable-admission-plugins", "TaintNodesByCondition",  # see NODE_HEALTH
        )  # fmt: skip
        server = f"https://127.0.0.1:{secure}"
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {"name": CONTEXT, "cluster": {"server": server, "certificate-authority": f"{w}/ca.crt"}}
                    ],
                    "users": [
                        {
                            "name": "admin",
                            "user": {"client-certificate": f"{w}/admin.crt", "client-key": f"{w}/admin.key"},
                        }
                    ],
                    "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin"}}],
                    "current-context": CONTEXT,
                }
            )
        )
        self._wait("the API server", lambda: self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0)
        # The CRDs go in before the controller manager starts: its garbage collector watches only the types of
        # its last discovery, refreshed every 30 s (garbageCollector.Sync, cmd/kube-controller-manager/app/core.go
        # in kubernetes v1.34.4), and a foreground delete of a custom object waits for that watch.
        self.kubectl("apply", "--server-side", "--field-manager", "micro-infra-test", "-f", str(crds))
        self.kubectl("wait", "--for", "condition=Established", "crd", "--all", "--timeout", "120s")
        kubeconfig = str(self.kubeconfig)
        self._spawn(
            "kube-controller-manager",
            "--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0",
            "--service-account-private-key-file", f"{w}/sa.key", "--root-ca-file", f"{w}/ca.crt",
            "--cluster-cidr", POD_CIDR, "--service-cluster-ip-range", SERVICE_CIDR, "--allocate-node-cidrs=false",
            "--controllers", f"*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-{NODE_HEALTH}",
        )  # fmt: skip
        self._spawn("kube-scheduler", "--kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port", "0")
        configs = [self._stage(stages, name) for name in (*NODE_STAGES, *VOLUME_STAGES)]
        self._spawn(
            "kwok",
            "--kubeconfig", kubeconfig, "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
            "--cidr", POD_CIDR, "--node-ip", "192.0.2.254",
            "--server-address", "", "--node-port", "0",  # no kwok server: nothing listens beyond 127.0.0.1
            *[arg for path in configs for arg in ("--config", str(path))],
        )  # fmt: skip
        self.apply([_node(), _storage_class()])
        self._wait("the fake node to be Ready", self._node_ready)
        self._wait(
            "the default ServiceAccount", lambda: self.kubectl("get", "sa", "default", check=False).returncode == 0
        )

    def _stage(self, stages: Path, name: str) -> Path:
        """kwok's stage file; the volume stages select on STORAGE_CLASS instead of kwok's own class."""
        text = (stages / f"{name}.yaml").read_text()
        if name in VOLUME_STAGES:
            text = text.replace(f"'{KWOK_STAGE_CLASS}'", f"'{STORAGE_CLASS}'")
        path = self.work / f"stage-{name}.yaml"
        path.write_text(text)
        return path

    def _node_ready(self) -> bool:
        done = self.kubectl("get", "node", NODE, "-o", "json", check=False)
        if done.returncode != 0:
            return False
        node = json.loads(done.stdout)
        conditions = node.get("status", {}).get("conditions", [])
        return not node.get("spec", {}).get("taints") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions
        )

    def stop(self) -> None:
        """SIGTERM each child by PID (last started first), SIGKILL what is left after 3 s (throwaway data)."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(self.work / "etcd", ignore_errors=True)


def _node() -> dict[str, Any]:
    """The fake Node kwok manages: no taint, so every Pod may land on it."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": NODE,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"allocatable": resources, "capacity": resources},
    }


def _storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS},
        "provisioner": "kwok.x-k8s.io/volume",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
