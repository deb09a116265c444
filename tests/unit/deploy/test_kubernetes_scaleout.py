"""The scale-out manifests under deploy/kubernetes/scaleout/: valid against the API schemas of
the Kubernetes version `kubernetes-validate` ships (strict: no unknown fields), and carrying
what the topology relies on: one Deployment per scale-out role running `tradehall serve --role
<role>`, readiness on the real `/healthz`, the engine pair (two replicas on different nodes, a
disruption budget, a rolling update that keeps one engine up), autoscalers on the API and the
WebSocket gateways only, hardened non-root containers with resources, network policies that
open what each role talks to, and only environment names that are settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import kubernetes_validate
import pytest
import yaml

from tradehall.config import Settings
from tradehall.entrypoints.api.routers import health

SCALEOUT = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes" / "scaleout"
MANIFESTS = sorted(SCALEOUT.glob("*.yaml"))
ROLES = ("api", "ws-gateway", "engine", "projector")
COMPONENT = "app.kubernetes.io/component"

Doc = dict[str, Any]


def documents(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def every_document() -> list[Doc]:
    return [d for path in MANIFESTS for d in documents(path)]


def of_kind(kind: str) -> list[Doc]:
    return [d for d in every_document() if d["kind"] == kind]


def deployments() -> dict[str, Doc]:
    """The Deployments by role (their component label)."""
    return {d["metadata"]["labels"][COMPONENT]: d for d in of_kind("Deployment")}


def container(deployment: Doc) -> Doc:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    result: Doc = only
    return result


def option(args: list[str], name: str) -> str:
    """The value given to a command-line option."""
    return args[args.index(name) + 1]


def pod_labels(deployment: Doc) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels and `In` expressions) selects these labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In", "extend this helper for other operators"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def selecting(kind: str, labels: dict[str, str]) -> list[Doc]:
    """The objects of a kind whose selector selects pods with these labels."""
    def selector(doc: Doc) -> Doc:
        if kind == "Service":  # a plain map, not a label selector
            return {"matchLabels": doc["spec"]["selector"]}
        key = "podSelector" if kind == "NetworkPolicy" else "selector"
        result: Doc = doc["spec"][key]
        return result

    return [d for d in of_kind(kind) if selects(selector(d), labels)]


def test_the_scaleout_directory_has_manifests() -> None:
    assert [p.name for p in MANIFESTS] == ["00-config.yaml", "10-engine.yaml",
                                           "20-projector.yaml", "30-api.yaml",
                                           "40-ws-gateway.yaml"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_scaleout_manifest_is_valid_against_the_schemas(path: Path) -> None:
    version = kubernetes_validate.latest_version()
    for doc in documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_every_scale_out_role_runs_tradehall_serve_with_its_role() -> None:
    roles = get_args(Settings.model_fields["role"].annotation)
    by_role = deployments()
    images = {container(d)["image"] for d in by_role.values()}

    assert set(by_role) == set(ROLES)
    assert set(ROLES) <= set(roles)
    assert len(images) == 1  # every role runs the same release
    for role, deployment in by_role.items():
        c = container(deployment)
        args = c["args"]
        assert args[:3] == ["serve", "--role", role], role
        assert "--no-demo" in args, role
        assert (option(args, "--host"), option(args, "--port")) == ("0.0.0.0", "8000"), role
        assert {"name": "http", "containerPort": 8000} in c["ports"], role
        assert selects(deployment["spec"]["selector"], pod_labels(deployment)), role


def test_every_role_is_ready_on_healthz_and_kept_alive_without_it() -> None:
    routes = {getattr(r, "path", None) for r in health.router.routes}

    assert {"/healthz", "/livez"} <= routes
    for role, deployment in deployments().items():
        c = container(deployment)
        assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, role
        for name in ("startupProbe", "livenessProbe"):
            probe = c[name]
            # TCP, or an HTTP route that does not depend on the role's dependencies.
            assert "tcpSocket" in probe or probe["httpGet"]["path"] == "/livez", (role, name)
            assert probe["failureThreshold"] >= 6, (role, name)


def test_the_engine_pair_runs_on_two_nodes_with_a_budget_and_a_safe_rollout() -> None:
    engine = deployments()["engine"]
    labels = pod_labels(engine)
    spec = engine["spec"]
    [required] = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]
    [budget] = selecting("PodDisruptionBudget", labels)
    startup = container(engine)["startupProbe"]

    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert required["topologyKey"] == "kubernetes.io/hostname"
    assert selects(required["labelSelector"], labels)
    assert budget["spec"] == {"minAvailable": 1, "selector": spec["selector"]}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 15 * 60  # long replays
    assert all(h["spec"]["scaleTargetRef"]["name"] != engine["metadata"]["name"]
               for h in of_kind("HorizontalPodAutoscaler"))


def test_the_projector_runs_alone_even_during_a_rollout() -> None:
    projector = deployments()["projector"]

    assert projector["spec"]["replicas"] == 1
    assert projector["spec"]["strategy"] == {"type": "Recreate"}


def test_the_autoscalers_target_the_api_and_the_ws_gateway_which_have_budgets_and_services(
) -> None:
    by_role = deployments()
    targets = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind("HorizontalPodAutoscaler")}
    grace = {role: by_role[role]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
             for role in ("api", "ws-gateway")}

    assert set(targets) == {by_role["api"]["metadata"]["name"],
                            by_role["ws-gateway"]["metadata"]["name"]}
    for role in ("api", "ws-gateway"):
        deployment = by_role[role]
        hpa = targets[deployment["metadata"]["name"]]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployment["spec"], role  # the autoscaler owns it
        assert len(selecting("PodDisruptionBudget", pod_labels(deployment))) == 1, role
        [service] = selecting("Service", pod_labels(deployment))
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert {s["metadata"]["name"] for s in of_kind("Service")} == {
        by_role["api"]["metadata"]["name"], by_role["ws-gateway"]["metadata"]["name"]}
    assert grace["ws-gateway"] > grace["api"]  # WebSockets get time to drain


@pytest.mark.parametrize("role", ROLES)
def test_every_container_is_non_root_read_only_and_sized(role: str) -> None:
    pod = deployments()[role]["spec"]["template"]["spec"]
    c = container(deployments()[role])
    emptydirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}

    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    assert c["resources"]["requests"]["cpu"]
    assert c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    assert mounts["/tmp"] in emptydirs
    assert mounts[option(c["args"], "--data-dir")] in emptydirs


def test_the_environment_names_real_settings_and_secrets_stay_in_the_secret() -> None:
    known = {"TRADEHALL_" + name.upper() for name in Settings.model_fields}
    [config] = of_kind("ConfigMap")
    names = set(config["data"])
    settings = Settings.model_validate({k.removeprefix("TRADEHALL_").lower(): v
                                        for k, v in config["data"].items()})

    assert settings.environment == "production"
    assert settings.nats_replicas == 3
    assert not of_kind("Secret")  # created by the operator, never committed
    for role, deployment in deployments().items():
        c = container(deployment)
        env = {e["name"]: e for e in c["env"]}
        names |= set(env)
        assert c["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}], role
        assert env["TRADEHALL_NODE_ID"]["valueFrom"] == {
            "fieldRef": {"fieldPath": "metadata.name"}}, role
        for name in ("TRADEHALL_DATABASE_URL", "TRADEHALL_REDIS_URL"):
            if name in env:
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": "tradehall-secrets", "key": name}, (role, name)
        if "TRADEHALL_MASTER_KEY_FILE" in env:
            assert master_key_is_mounted(deployment, env["TRADEHALL_MASTER_KEY_FILE"]["value"])
    assert names <= known, names - known


def master_key_is_mounted(deployment: Doc, path: str) -> bool:
    """Whether `path` is a file of the Secret mounted read-only in the container."""
    directory, _, filename = path.rpartition("/")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in container(deployment)["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if mount["mountPath"] == directory and secret and mount.get("readOnly"):
            return {"key": filename, "path": filename} in secret["items"]
    return False


# What each role talks to (docs/architecture.md, "Scale-out"): DNS everywhere, NATS everywhere,
# PostgreSQL for the roles that read or write the read models, Redis for the API processes.
EGRESS_PORTS = {
    "engine": {53, 4222},
    "projector": {53, 4222, 5432},
    "api": {53, 4222, 5432, 6379},
    "ws-gateway": {53, 4222, 5432, 6379},
}


@pytest.mark.parametrize("role", ROLES)
def test_network_policies_open_only_what_the_role_talks_to(role: str) -> None:
    deployment = deployments()[role]
    policies = selecting("NetworkPolicy", pod_labels(deployment))
    env = {e["name"] for e in container(deployment)["env"]}
    egress = {port["port"] for p in policies for rule in p["spec"].get("egress", [])
              for port in rule["ports"]}
    ingress = {port["port"] for p in policies for rule in p["spec"].get("ingress", [])
               for port in rule["ports"]}

    assert any(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in policies)
    assert egress == EGRESS_PORTS[role]
    assert ingress == {8000}
    assert ("TRADEHALL_DATABASE_URL" in env) == (5432 in egress)
    assert ("TRADEHALL_REDIS_URL" in env) == (6379 in egress)
