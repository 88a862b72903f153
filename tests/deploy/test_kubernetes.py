"""deploy/kubernetes, validated offline: no API server runs on these machines.

The base and its overlay are rendered by the real ``kubectl kustomize`` (Debian's
kubectl 1.20 in CI, whose kustomize is v2.0.3); every core object is validated by
``kubernetes-validate`` against the API schemas of two Kubernetes versions, strictly;
the Prometheus Operator's two objects against a schema of the fields they use (below,
written from the operator's documented CRDs); the PrometheusRule's groups are those
of deploy/prometheus and pass promtool; and what the pod would run (its environment,
config files, Secret files and commands) runs here as real processes. The overlays
of docs/operations/kubernetes.md are rendered and checked too.

Without kubectl these tests skip on a developer's machine and fail where
ALERTREFLEX_REQUIRE_TOOLS is set (CI).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import bcrypt
import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from alertreflex import __version__
from alertreflex.config.schema import Settings
from alertreflex.engine.engine import RESTORE_AT_SHUTDOWN_TIMEOUT
from tests.conftest import BIN, free_port
from tests.payloads import alert, notification
from tests.pg import fresh_schema
from tests.podman import unavailable

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
BASE = KUBE / "base"
SQLITE = KUBE / "overlays" / "sqlite"
GENERATOR = KUBE / "generate.py"
RULES = ROOT / "deploy" / "prometheus" / "alertreflex.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alertreflex.rules.test.yml"
DOC = ROOT / "docs" / "operations" / "kubernetes.md"
CONTAINERFILE = ROOT / "Containerfile"

# The oldest API the manifests promise to fit, and the newest one known here.
KUBERNETES_VERSIONS = ("1.25", latest_version())
OPERATOR_API = "monitoring.coreos.com/v1"
IMAGE_UID = 10001  # the Containerfile's user and group
# Where alertreflex serve writes (a check of the server with strace found nothing
# else): its store's directory, and exec steps' temporary files.
WRITABLE = {"/var/lib/alertreflex", "/tmp"}


# -- rendering -----------------------------------------------------------------------------


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        unavailable("kubectl is not installed (apt-get install kubernetes-client)")
    assert path is not None
    return path


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize DIRECTORY``: the objects ``kubectl apply -k`` would send."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {directory}:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@dataclass(repr=False)  # pytest prints fixtures in failures: keep it short
class Rendered:
    """One rendered directory, with lookups by kind."""

    name: str
    objects: list[dict[str, Any]]

    def __repr__(self) -> str:
        return f"<{self.name}: {', '.join(o['kind'] for o in self.objects)}>"

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"{self.name}: {len(found)} {kind} objects"
        return found[0]

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.one("Deployment")["spec"]["template"]["spec"]
        return spec

    @property
    def main(self) -> dict[str, Any]:
        [container] = [c for c in self.pod["containers"] if c["name"] == "alertreflex"]
        return container

    def containers(self) -> list[dict[str, Any]]:
        return [*(self.pod.get("initContainers") or []), *self.pod["containers"]]


@pytest.fixture(scope="module")
def base() -> Rendered:
    """deploy/kubernetes/base, rendered."""
    return Rendered("base", kustomize(BASE))


@pytest.fixture(scope="module")
def sqlite() -> Rendered:
    """deploy/kubernetes/overlays/sqlite, rendered."""
    return Rendered("overlays/sqlite", kustomize(SQLITE))


@pytest.fixture(params=["base", "sqlite"])
def rendered(request: pytest.FixtureRequest) -> Rendered:
    """Each of the two, in turn."""
    value: Rendered = request.getfixturevalue(request.param)
    return value


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


# -- every object is valid -----------------------------------------------------------------

# What kustomize v2.0.3 (Debian's kubectl 1.20, as CI installs it) and current kustomize
# both understand. Newer fields (labels, patches, replacements, components) render with
# a current kubectl and fail only in CI: caught here first.
KUSTOMIZE_V2_FIELDS = {
    "resources",
    "bases",
    "namespace",
    "commonLabels",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patchesStrategicMerge",
}


@pytest.mark.parametrize("directory", [BASE, SQLITE], ids=["base", "sqlite"])
def test_kustomizations_use_only_what_kustomize_v2_knows(directory: Path) -> None:
    """Only fields kustomize v2.0.3 knows, and ``resources`` that are files (v2 takes
    a directory only under ``bases``)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kustomization) <= KUSTOMIZE_V2_FIELDS
    for resource in kustomization.get("resources", []):
        assert (directory / resource).is_file(), resource


def test_the_base_and_the_overlay_hold_the_objects_of_the_issue(
    base: Rendered, sqlite: Rendered
) -> None:
    """The base has the Deployment, Service, generated ConfigMap, PodDisruptionBudget,
    ServiceMonitor and PrometheusRule; the overlay adds its PersistentVolumeClaim;
    neither ships a Secret (users create theirs, the docs say how)."""
    kinds = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    kinds |= {"ServiceMonitor", "PrometheusRule"}
    assert sorted(o["kind"] for o in base.objects) == sorted(kinds)
    assert sorted(o["kind"] for o in sqlite.objects) == sorted(kinds | {"PersistentVolumeClaim"})
    config_map = base.one("ConfigMap")["metadata"]["name"]
    assert re.fullmatch(r"alertreflex-config-[a-z0-9]{10}", config_map), config_map
    volumes = {v["name"]: v for v in base.pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map, "hashed name not referenced"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_validate_strictly(rendered: Rendered, version: str) -> None:
    """Every object of a core API group validates against that Kubernetes version's
    schemas, strictly: a misspelt or misplaced field is an error, not ignored."""
    core = [o for o in rendered.objects if o["apiVersion"] != OPERATOR_API]
    assert len(core) >= 4
    for obj in core:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{rendered.name}: {obj['kind']}: {where}: {exc.message}")


def test_strict_validation_catches_an_unknown_field(base: Rendered) -> None:
    """The validation above can fail: a field the API does not have, or one in the
    wrong place, is refused (so a passing run means something)."""
    deployment = copy.deepcopy(base.one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["path"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    deployment = copy.deepcopy(base.one("Deployment"))
    deployment["spec"]["template"]["spec"]["securityContext"]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


# The Prometheus Operator's CRDs are not among kubernetes-validate's schemas (it only
# warns about such kinds). These are the monitoring.coreos.com/v1 fields the manifests
# use, with the types and patterns of the operator's API documentation, and nothing
# else allowed: a typo fails, a field outside this subset fails until added here.
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": _STRINGS,
        "annotations": _STRINGS,
    },
}


def _operator_object(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": OPERATOR_API},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


OPERATOR_SCHEMAS = {
    "ServiceMonitor": _operator_object(
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _STRINGS},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "scheme": {"enum": ["http", "https"]},
                        },
                    },
                },
            },
        },
    ),
    "PrometheusRule": _operator_object(
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": _STRINGS,
                                        "annotations": _STRINGS,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    ),
}


def operator_errors(obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(OPERATOR_SCHEMAS[obj["kind"]])
    return [
        f"{obj['kind']}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(obj)
    ]


def test_operator_objects_validate_against_the_fields_they_use(rendered: Rendered) -> None:
    """The ServiceMonitor and the PrometheusRule fit the subset of the Prometheus
    Operator's monitoring.coreos.com/v1 schema written above; a misspelt field in
    either is caught (the check can fail)."""
    operator = [o for o in rendered.objects if o["apiVersion"] == OPERATOR_API]
    assert sorted(o["kind"] for o in operator) == ["PrometheusRule", "ServiceMonitor"]
    for obj in operator:
        assert operator_errors(obj) == []
    monitor = copy.deepcopy(rendered.one("ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["targetPorts"] = "http"
    assert operator_errors(monitor), "an unknown endpoint field passed"
    rule = copy.deepcopy(rendered.one("PrometheusRule"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    assert operator_errors(rule), "a duration Prometheus cannot parse passed"


# -- the PrometheusRule is deploy/prometheus's rules ---------------------------------------


def generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prometheusrule_is_in_step_with_the_rules(base: Rendered) -> None:
    """The committed PrometheusRule is what the generator makes of
    deploy/prometheus/alertreflex.rules.yml today, and its rendered groups are that
    file's groups, rule for rule."""
    done = generate("--check")
    assert done.returncode == 0, done.stderr
    rules = yaml.safe_load(RULES.read_text())
    assert set(rules) == {"groups"}
    assert base.one("PrometheusRule")["spec"]["groups"] == rules["groups"]


def test_a_changed_rule_puts_the_prometheusrule_out_of_step(tmp_path: Path) -> None:
    """Change one alert's ``for`` in a copy of the rules: the check fails and says what
    to run; generating from the copy then carries the change over."""
    text = RULES.read_text()
    changed = re.sub(r"(?m)^(\s+for: )5m$", r"\g<1>7m", text, count=1)
    assert changed != text
    copy_of_rules = tmp_path / "alertreflex.rules.yml"
    copy_of_rules.write_text(changed)
    done = generate("--check", "--rules", str(copy_of_rules))
    assert done.returncode == 1
    assert "out of step" in done.stderr and "generate.py" in done.stderr, done.stderr
    output = tmp_path / "prometheusrule.yaml"
    done = generate("--rules", str(copy_of_rules), "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert (
        yaml.safe_load(output.read_text())["spec"]["groups"] == (yaml.safe_load(changed)["groups"])
    )
    assert (
        generate("--check", "--rules", str(copy_of_rules), "--output", str(output)).returncode == 0
    )


def test_the_generator_refuses_a_rule_file_with_more_than_groups(tmp_path: Path) -> None:
    """A top-level key beside ``groups`` could not go into the PrometheusRule's groups:
    the generator refuses the file instead of dropping or mangling it."""
    odd = tmp_path / "odd.rules.yml"
    odd.write_text(RULES.read_text() + "extra: true\n")
    done = generate("--rules", str(odd), "--output", str(tmp_path / "out.yaml"))
    assert done.returncode == 2
    assert "only top-level key" in done.stderr
    assert not (tmp_path / "out.yaml").exists()


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is not installed (apt-get install prometheus)")
    assert path is not None
    return subprocess.run(
        [path, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_checks_and_unit_tests_the_rendered_groups(base: Rendered, tmp_path: Path) -> None:
    """The groups as rendered for the cluster, written out as a rule file: ``promtool
    check rules`` counts every alert, and deploy/prometheus's unit tests pass on them."""
    groups = base.one("PrometheusRule")["spec"]["groups"]
    (tmp_path / RULES.name).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    count = sum(1 for g in groups for r in g["rules"] if "alert" in r)
    done = promtool("check", "rules", RULES.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {count} rules found" in done.stdout, done.stdout
    done = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_scraped_pods_get_the_job_the_alerts_select(base: Rendered) -> None:
    """The ServiceMonitor selects the Service, scrapes its named port at /metrics, and
    takes the job from a label of the Service whose value is the job every alert
    selects (job="alertreflex")."""
    service = base.one("Service")
    monitor = base.one("ServiceMonitor")["spec"]
    labels = service["metadata"]["labels"]
    assert monitor["selector"]["matchLabels"].items() <= labels.items()
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    jobs = {job for expr in exprs for job in re.findall(r'\bjob="([^"]*)"', expr)}
    assert jobs == {labels[monitor["jobLabel"]]}, jobs
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"


# -- the Deployment ------------------------------------------------------------------------


def test_base_runs_two_replicas_on_postgresql_migrated_first(base: Rendered) -> None:
    """Two replicas, rolled one at a time; both containers take the database URL from
    the Secret; the init container runs ``alertreflex migrate --storage`` with it (flags
    the real command has), in the same image, and the main container runs the image's
    entry point (``alertreflex serve``) unchanged."""
    spec = base.one("Deployment")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    [migrate] = base.pod["initContainers"]
    assert migrate["command"] == ["alertreflex", "migrate"]
    assert migrate["args"] == ["--storage", "$(ALERTREFLEX_STORAGE)"]
    assert migrate["image"] == base.main["image"]
    secret = {"secretKeyRef": {"name": "alertreflex-postgresql", "key": "url"}}
    for container in (migrate, base.main):
        assert env_of(container)["ALERTREFLEX_STORAGE"].get("valueFrom") == secret
    assert "command" not in base.main and "args" not in base.main
    usage = subprocess.run(
        [str(BIN), "migrate", "--help"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 0 and "--storage URL" in usage.stdout


def test_probes_point_at_the_health_endpoints_on_the_served_port(rendered: Rendered) -> None:
    """Startup and liveness probe /-/healthy, readiness /-/ready, all on the port named
    http: the container's 8976, where ALERTREFLEX_LISTEN has alertreflex listen and
    where the Service sends its traffic."""
    main = rendered.main
    assert main["startupProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    [port] = main["ports"]
    assert port == {"name": "http", "containerPort": 8976, "protocol": "TCP"}
    assert env_of(main)["ALERTREFLEX_LISTEN"]["value"] == "0.0.0.0:8976"
    [service_port] = rendered.one("Service")["spec"]["ports"]
    assert service_port["targetPort"] == "http" and service_port["port"] == 8976
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_pods_run_unprivileged_on_a_read_only_root(rendered: Rendered) -> None:
    """The image's uid and gid, never root, RuntimeDefault seccomp; each container (the
    init container too) without privilege escalation or capabilities, on a read-only
    root file system; writable volumes only where alertreflex writes; config and
    credentials mounted read-only; no service account token, no service links."""
    pod = rendered.pod
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_UID,
        "fsGroup": IMAGE_UID,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    for container in rendered.containers():
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, container["name"]
    mounts = {m["mountPath"]: m for m in rendered.main["volumeMounts"]}
    writable = {path for path, m in mounts.items() if not m.get("readOnly")}
    assert writable == WRITABLE
    assert mounts["/etc/alertreflex"]["readOnly"] and mounts["/etc/alertreflex-secrets"]["readOnly"]


def test_resources_and_grace_period(rendered: Rendered) -> None:
    """Each container requests CPU and memory and has a memory limit above its request;
    the grace period outlasts the config's shutdown_grace plus the restores after it."""
    for container in rendered.containers():
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys(), container["name"]
        limit, request = resources["limits"]["memory"], resources["requests"]["memory"]
        assert int(limit.removesuffix("Mi")) > int(request.removesuffix("Mi"))
    data = yaml.safe_load(rendered.one("ConfigMap")["data"]["alertreflex.yml"])
    grace = Settings.model_validate(data["settings"]).shutdown_grace
    assert rendered.pod["terminationGracePeriodSeconds"] > grace + RESTORE_AT_SHUTDOWN_TIMEOUT


def test_replicas_spread_and_drain_one_at_a_time(rendered: Rendered) -> None:
    """A preferred anti-affinity spreads the pods over nodes; the disruption budget
    allows one pod down at a time (maxUnavailable, so a single replica can still be
    drained) and selects the Deployment's pods."""
    pods = rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    [term] = rendered.pod["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == pods
    budget = rendered.one("PodDisruptionBudget")["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": pods}}


def test_the_image_is_named_for_this_release_and_overridable(
    base: Rendered, tmp_path: Path
) -> None:
    """Every container runs the image named ``alertreflex``, tagged with this release
    by the base's ``images:`` entry (which sets no registry, or an overlay's entry for
    ``alertreflex`` would no longer match); an overlay's entry replaces it in all of
    them, the init container too."""
    for container in base.containers():
        assert container["image"] == f"alertreflex:{__version__}"
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"bases:\n  - {os.path.relpath(BASE, overlay)}\n"
        "images:\n  - name: alertreflex\n    newName: mirror.example/x/alertreflex\n"
        "    newTag: '9.9'\n"
    )
    mine = Rendered("overlay", kustomize(overlay))
    assert {c["image"] for c in mine.containers()} == {"mirror.example/x/alertreflex:9.9"}
    assert len(mine.containers()) == 2


def test_sqlite_overlay_runs_one_pod_on_its_volume(sqlite: Rendered) -> None:
    """One replica, recreated rather than rolled (two pods must never share the
    file), no migrate init container, the store in the directory where the claim is
    mounted, and nothing left of PostgreSQL."""
    spec = sqlite.one("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert not sqlite.pod.get("initContainers")
    storage = env_of(sqlite.main)["ALERTREFLEX_STORAGE"]
    assert storage == {
        "name": "ALERTREFLEX_STORAGE",
        "value": "sqlite:////var/lib/alertreflex/alertreflex.db",
    }
    claim = sqlite.one("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = {v["name"]: v for v in sqlite.pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in sqlite.main["volumeMounts"]}
    state = volumes[mounts["/var/lib/alertreflex"]]
    assert state == {
        "name": "state",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }
    assert "alertreflex-postgresql" not in json.dumps(sqlite.objects)


# -- what the pod runs, run here -----------------------------------------------------------


def created_secrets() -> dict[str, set[str]]:
    """Each ``kubectl create secret generic NAME`` of the docs, with the keys its
    ``--from-file=KEY=`` and ``--from-literal=KEY=`` options give it."""
    text = DOC.read_text().replace("\\\n", " ")
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = re.search(r"kubectl .*create secret generic ([\w.-]+)(.*)", line)
        if m:
            keys = re.findall(r"--from-(?:file|literal)=([\w.-]+)=", m[2])
            found[m[1]] = set(keys)
    return found


def secret_refs(rendered: Rendered) -> dict[str, set[str]]:
    """The Secrets the pod needs, with the keys it reads from each as a variable (a
    Secret mounted whole has none here: its keys are the files the config names)."""
    refs: dict[str, set[str]] = {}
    for container in rendered.containers():
        for e in container.get("env") or []:
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.setdefault(ref["name"], set()).add(ref["key"])
    for volume in rendered.pod["volumes"]:
        if "secret" in volume:
            refs.setdefault(volume["secret"]["secretName"], set())
    return refs


def test_the_docs_create_every_secret_the_pods_need(rendered: Rendered) -> None:
    """The Secrets and keys of the docs' ``kubectl create secret`` commands are the ones
    the pod reads: a Secret key it takes as a variable, and for the mounted Secret each
    file the config names under its mount (and no more)."""
    documented = created_secrets()
    assert documented, f"no kubectl create secret in {DOC}"
    needed = secret_refs(rendered)
    mounts = {m["name"]: m["mountPath"] for m in rendered.main["volumeMounts"]}
    config = "\n".join(rendered.one("ConfigMap")["data"].values())
    for volume in rendered.pod["volumes"]:
        if "secret" in volume:
            under = re.escape(mounts[volume["name"]])
            named = set(re.findall(rf"{under}/([\w.-]+)", config))
            assert named, f"the config names no file of {volume['secret']['secretName']}"
            needed[volume["secret"]["secretName"]] = named
    for name, keys in needed.items():
        assert documented.get(name) == keys, f"Secret {name}: docs {documented.get(name)}"


@dataclass
class LocalPod:
    """A rendered pod made of local files and processes: each volume mount is a
    directory under ``root`` holding what the volume would (the ConfigMap's keys, a
    Secret's keys), and every absolute path of the pod's environment and config under
    a mount is moved under ``root`` with it."""

    rendered: Rendered
    root: Path
    secrets: dict[str, dict[str, str]]
    _paths: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        mounts = sorted(
            {
                m["mountPath"]
                for c in self.rendered.containers()
                for m in c.get("volumeMounts") or []
            },
            key=len,
            reverse=True,
        )
        self._paths = re.compile("(" + "|".join(map(re.escape, mounts)) + r")(?=/|$)")
        volumes = {v["name"]: v for v in self.rendered.pod["volumes"]}
        data = self.rendered.one("ConfigMap")["data"]
        for m in self.rendered.main["volumeMounts"]:
            directory = self.local(m["mountPath"])
            directory.mkdir(parents=True, exist_ok=True)
            volume = volumes[m["name"]]
            if "configMap" in volume:
                for key, text in data.items():
                    (directory / key).write_text(self.moved(text))
            if "secret" in volume:
                for key, value in self.secrets[volume["secret"]["secretName"]].items():
                    (directory / key).write_text(value)

    def local(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def moved(self, text: str) -> str:
        return self._paths.sub(lambda m: str(self.local(m[1])), text)

    def env(self, container: dict[str, Any]) -> dict[str, str]:
        """The container's environment as the kubelet would set it (values, Secret
        keys), paths moved under ``root``, over a clean copy of the test's own."""
        out = {k: v for k, v in os.environ.items() if not k.startswith("ALERTREFLEX_")}
        out["TMPDIR"] = str(self.local("/tmp"))
        for e in container.get("env") or []:
            if "value" in e:
                out[e["name"]] = self.moved(e["value"])
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                out[e["name"]] = self.secrets[ref["name"]][ref["key"]]
        return out

    def argv(self, container: dict[str, Any], entrypoint: list[str]) -> list[str]:
        """command + args, ``$(VAR)`` expanded from the container's env as Kubernetes
        does; the image's entry point when the container gives no command."""
        env = self.env(container)
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], a) for a in container.get("args", [])]
        command = container.get("command", entrypoint)
        assert command[0] == "alertreflex"
        return [str(BIN), *command[1:], *args]


def image_entrypoint() -> list[str]:
    """The Containerfile's ENTRYPOINT, what a container without a command runs."""
    found = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", CONTAINERFILE.read_text(), flags=re.M)
    assert found, f"no ENTRYPOINT [...] in {CONTAINERFILE}"
    entrypoint: list[str] = json.loads(found[1])
    return entrypoint


def credentials() -> dict[str, str]:
    """Stand-ins for the files the docs put in alertreflex-credentials: a bcrypt hash
    for a ``.hash`` key, a token of the key's own otherwise (trailing newline, as
    files written by the docs' commands have)."""
    files: dict[str, str] = {}
    for key in created_secrets()["alertreflex-credentials"]:
        if key.endswith(".hash"):
            files[key] = bcrypt.hashpw(b"a password", bcrypt.gensalt(rounds=4)).decode() + "\n"
        else:
            files[key] = f"{key}-stand-in-0123456789abcdef\n"
    return files


def token_named(rendered: Rendered, setting: str) -> str:
    """The stand-in token that the file of ``setting`` holds: ``webhook`` for
    settings.webhook_auth's, ``user`` for the first user with a token_file."""
    settings = yaml.safe_load(rendered.one("ConfigMap")["data"]["alertreflex.yml"])["settings"]
    if setting == "webhook":
        path = settings["webhook_auth"]["bearer_token_file"]
    else:
        path = next(u["token_file"] for u in settings["auth"]["users"] if u.get("token_file"))
    return credentials()[PurePosixPath(path).name].strip()


def test_the_configmap_config_passes_alertreflex_check(rendered: Rendered, tmp_path: Path) -> None:
    """The ConfigMap's files, with the Secret's files where the pod has them, pass
    ``alertreflex check``; they configure users (required beyond loopback) and the
    webhook's own token."""
    pod = LocalPod(rendered, tmp_path, {"alertreflex-credentials": credentials()})
    config_dir = pod.local(env_of(rendered.main)["ALERTREFLEX_CONFIG"]["value"])
    done = subprocess.run(
        [str(BIN), "check", str(config_dir)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    settings = yaml.safe_load((config_dir / "alertreflex.yml").read_text())["settings"]
    assert settings["auth"]["users"] and settings["webhook_auth"]["bearer_token_file"]


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A new, empty schema of the test PostgreSQL, as the alertreflex-postgresql
    Secret's URL (skips without ALERTREFLEX_TEST_PG, fails where it is required)."""
    loop = asyncio.new_event_loop()
    schema = fresh_schema()
    try:
        yield loop.run_until_complete(schema.__aenter__())
        loop.run_until_complete(schema.__aexit__(None, None, None))
    finally:
        loop.close()


@pytest.mark.parametrize("variant", ["base", "sqlite"])
def test_the_pod_runs_answers_its_probes_and_guards_its_endpoints(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The pod, as local processes: each init container's command succeeds (on
    PostgreSQL, migrate creates the schema), then ``alertreflex serve`` with nothing but
    the container's environment listens on all interfaces, answers each probe's path,
    serves /metrics to Prometheus without credentials, takes a notification only with
    the webhook token and the API only with a user's, and stops cleanly on SIGTERM
    within the grace period."""
    rendered: Rendered = request.getfixturevalue(variant)
    database = {"url": request.getfixturevalue("postgresql_url")} if variant == "base" else {}
    secrets = {"alertreflex-credentials": credentials(), "alertreflex-postgresql": database}
    pod = LocalPod(rendered, tmp_path / "pod", secrets)
    for init in rendered.pod.get("initContainers") or []:
        done = subprocess.run(
            pod.argv(init, image_entrypoint()),
            env=pod.env(init),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{init['name']}: {done.stdout}{done.stderr}"
        assert "schema version" in done.stdout
    env = pod.env(rendered.main)
    host, _, port = env["ALERTREFLEX_LISTEN"].rpartition(":")
    assert host == "0.0.0.0" and port == "8976"
    local_port = free_port()
    env["ALERTREFLEX_LISTEN"] = f"{host}:{local_port}"  # 8976 may be taken here
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            pod.argv(rendered.main, image_entrypoint()),
            env=env,
            cwd=pod.local("/var/lib/alertreflex"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{local_port}"
    try:
        wait_ready(url, proc, log)
        main = rendered.main
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = main[probe]["httpGet"]["path"]
            assert httpx.get(url + path, timeout=5).status_code == 200, probe
        monitor = rendered.one("ServiceMonitor")["spec"]["endpoints"][0]
        assert httpx.get(url + monitor["path"], timeout=5).status_code == 200
        body = json.dumps(notification(alert({"alertname": "PodTest", "team": "t"})))
        hook = f"{url}/webhook"
        assert httpx.post(hook, content=body, timeout=10).status_code == 401
        bearer = {"Authorization": f"Bearer {token_named(rendered, 'webhook')}"}
        assert httpx.post(hook, content=body, headers=bearer, timeout=10).status_code == 200
        assert httpx.get(f"{url}/api/v1/runs", timeout=5).status_code == 401
        admin = {"Authorization": f"Bearer {token_named(rendered, 'user')}"}
        assert httpx.get(f"{url}/api/v1/runs", headers=admin, timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(rendered.pod["terminationGracePeriodSeconds"]) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    logged = log.read_text()
    assert '"msg":"listening"' in logged, logged  # ALERTREFLEX_LOG_FORMAT=json
    if variant == "sqlite":
        assert pod.local("/var/lib/alertreflex/alertreflex.db").is_file()


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"serve not ready after {timeout}s:\n{log.read_text()}")


# -- the overlays of the docs --------------------------------------------------------------


def doc_files(directory: str) -> dict[str, str]:
    """The docs' code blocks titled ``DIRECTORY/...``, by their path in it."""
    blocks = re.findall(r'```yaml title="([^"]+)"\n(.*?)```', DOC.read_text(), flags=re.S)
    files = {
        t.removeprefix(f"{directory}/"): body for t, body in blocks if t.startswith(f"{directory}/")
    }
    assert files, f"no block titled {directory}/... in {DOC}"
    return files


def doc_overlay(directory: str, tmp_path: Path) -> Path:
    """The docs' overlay written out beside ``alertreflex``, a clone of this
    repository as the docs assume (a link to it)."""
    (tmp_path / "alertreflex").symlink_to(ROOT)
    for name, text in doc_files(directory).items():
        (tmp_path / directory / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / directory / name).write_text(text)
    return tmp_path / directory


def test_the_docs_overlay_renders_what_it_promises(tmp_path: Path) -> None:
    """docs/operations/kubernetes.md's own overlay: its namespace on every object, its
    image in every container, the base's settings and its reflexes in one ConfigMap
    that ``alertreflex check`` accepts, and its labels on the operator's objects;
    every core object still validates strictly."""
    overlay = doc_overlay("my-alertreflex", tmp_path)
    mine = Rendered("docs overlay", kustomize(overlay))
    settings = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert {o["metadata"].get("namespace") for o in mine.objects} == {settings["namespace"]}
    [image] = settings["images"]
    assert {c["image"] for c in mine.containers()} == {f"{image['newName']}:{image['newTag']}"}
    assert sorted(mine.one("ConfigMap")["data"]) == ["alertreflex.yml", "warehouse.yml"]
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert mine.one(kind)["metadata"]["labels"]["release"] == "prometheus"
        assert operator_errors(mine.one(kind)) == []
    for obj in mine.objects:
        if obj["apiVersion"] != OPERATOR_API:
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)
    pod = LocalPod(mine, tmp_path / "pod", {"alertreflex-credentials": credentials()})
    done = subprocess.run(
        [str(BIN), "check", str(pod.local("/etc/alertreflex"))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 reflex(es)" in done.stdout


def test_the_docs_overlay_without_the_operator_drops_its_objects(tmp_path: Path) -> None:
    """The docs' overlay for a cluster without the Prometheus Operator leaves the core
    objects and nothing of monitoring.coreos.com. It needs kustomize 3 or later (the
    docs say so): kustomize v2 cannot delete an object, and this test skips there."""
    objects = kustomize(doc_overlay("without-operator", tmp_path))
    if any("$patch" in o for o in objects):
        pytest.skip("this kubectl's kustomize (v2) cannot delete objects, as the docs say")
    assert {o["kind"] for o in objects} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }
