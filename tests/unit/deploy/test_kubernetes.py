"""The Kubernetes manifests under deploy/kubernetes/: valid against the API schemas of the
Kubernetes version `kubernetes-validate` ships (strict: no unknown fields), and carrying what
operations relies on (the fallback role, probes on the real health routes, resources, the
autoscaler on the right Deployment, secrets by reference only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tradehall.config import Settings
from tradehall.entrypoints.api.routers import health

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_valid_against_the_schemas(path: Path) -> None:
    version = kubernetes_validate.latest_version()
    for doc in documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_fallback_deployment_runs_the_fallback_role_with_probes_and_limits() -> None:
    docs = {d["kind"]: d for d in documents(DEPLOY / "fallback.yaml")}
    deployment = docs["Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    probes = {name: container[name]["httpGet"]["path"]
              for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    hpa = docs["HorizontalPodAutoscaler"]

    assert args[:3] == ["serve", "--role", "fallback"]
    assert "--no-demo" in args
    assert probes == {"startupProbe": "/livez", "readinessProbe": "/healthz",
                      "livenessProbe": "/livez"}
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= \
        hpa["spec"]["maxReplicas"]
    assert docs["Service"]["spec"]["selector"] == \
        deployment["spec"]["selector"]["matchLabels"]
    env = {e["name"]: e for e in container["env"]}
    assert all("valueFrom" in env[n] for n in ("TRADEHALL_DATABASE_URL", "TRADEHALL_REDIS_URL"))
    assert "Secret" not in docs  # secrets are created by the operator, never committed


def test_the_probed_routes_exist_and_the_config_names_real_settings() -> None:
    paths = {getattr(r, "path", None) for r in health.router.routes}
    docs = {d["kind"]: d for d in documents(DEPLOY / "fallback.yaml")}
    known = {"TRADEHALL_" + name.upper() for name in Settings.model_fields}

    assert {"/healthz", "/livez"} <= paths
    assert set(docs["ConfigMap"]["data"]) <= known
    settings = Settings.model_validate({k.removeprefix("TRADEHALL_").lower(): v
                                        for k, v in docs["ConfigMap"]["data"].items()
                                        if k != "TRADEHALL_FRAME_ANCESTORS"})
    assert settings.environment == "production"
