"""Static checks of the production stack (docker-compose.yaml, Dockerfile, .env.example): no Docker
engine runs on these machines, so what can be checked without one is checked here."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())  # anchors and merge keys resolved
SERVICES = COMPOSE["services"]
DAG_CODE = [name for name in SERVICES if name.startswith("airflow-")]
ONE_SHOT = {"airflow-init"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
"""A compose variable, ``${NAME}``, ``${NAME:-default}`` or ``${NAME:?error}`` (``$${…}`` is the
container's own)."""


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def test_the_topology_is_all_there():
    assert {
        "postgres",
        "redis",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "mlflow",
        "mlflow-serve",
        "prometheus",
        "statsd-exporter",
        "grafana",
    } <= set(SERVICES)
    for name in ("prometheus", "statsd-exporter", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"], name


@pytest.mark.parametrize("name", sorted(set(SERVICES) - ONE_SHOT))
def test_every_long_running_service_has_a_health_check(name):
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no health check"


def test_images_are_pinned():
    for name, service in SERVICES.items():
        image = service.get("image")
        if image:
            repo, _, tag = image.rpartition(":")
            assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", dockerfile, re.M)


def test_no_literal_secrets():
    secretish = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN")
    for name in SERVICES:
        for key, value in _env(name).items():
            if secretish.search(key):
                assert VARIABLE.fullmatch(value), f"{name}: {key} is not read from .env"
            for password in re.findall(r"://[^:/@]+:([^@]+)@", value):
                assert VARIABLE.fullmatch(password), f"{name}: a password in {key} is written out"
        for arg in SERVICES[name].get("command") or []:
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(arg)):
                assert VARIABLE.fullmatch(password), f"{name}: a password in its command is written out"
    example = (REPO / ".env.example").read_text()
    assert "FERNET_KEY=\n" in example, "the example leaves the Fernet key for the user to generate"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_every_variable_the_stack_reads_is_in_the_env_example():
    defined = set(re.findall(r"^([A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    lines = (REPO / "docker-compose.yaml").read_text().splitlines()
    used = {v for line in lines if not line.lstrip().startswith("#") for v in VARIABLE.findall(line)}
    assert used - defined == set(), f"not in .env.example: {sorted(used - defined)}"


def test_services_that_run_dag_code_share_the_same_code():
    expected = {
        "/opt/airflow/dags",
        "/opt/airflow/plugins",
        "/opt/sluice/include/sluice",
        "/opt/sluice/expectations",
    }
    for name in DAG_CODE:
        targets = {v.split(":")[1] for v in SERVICES[name]["volumes"]}
        assert expected <= targets, f"{name} misses {expected - targets}"
        assert SERVICES[name]["image"] == SERVICES["airflow-scheduler"]["image"]
    dockerfile = (REPO / "Dockerfile").read_text()
    for baked in (
        "COPY --chown=airflow:0 include/",
        "COPY --chown=airflow:0 expectations/",
        "dags/",
        "plugins/",
    ):
        assert baked in dockerfile, baked


def test_airflow_gets_the_configuration_it_needs():
    for name in DAG_CODE:
        env = _env(name)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        for key in (
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
            "AIRFLOW__CELERY__BROKER_URL",
            "AIRFLOW__CELERY__RESULT_BACKEND",
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
            "AIRFLOW_CONN_SLUICE_WAREHOUSE",
            "MLFLOW_TRACKING_URI",
        ):
            assert env.get(key), f"{name}: {key} is not set"
        assert "simple_auth_manager" in env["AIRFLOW__CORE__AUTH_MANAGER"], "the UI requires a login"
    worker = SERVICES["airflow-worker"]
    assert worker["command"] == "celery worker" and "deploy" not in worker, "scaled with --scale"
    assert "container_name" not in worker


def test_the_image_installs_the_requirements_not_at_start_up():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert (
        "pip install --no-cache-dir -r /opt/sluice/requirements.txt -c /opt/sluice/constraints.txt"
        in dockerfile
    )
    assert re.search(r"^USER airflow$", dockerfile, re.M)
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (REPO / "docker-compose.yaml").read_text()


def test_postgres_gets_one_database_and_role_each():
    script = (REPO / "deploy" / "postgres" / "init-databases.sh").read_text()
    assert re.findall(r"^create (\w+) \"\$(\w+)\" (\w+)$", script, re.M) == [
        ("airflow", "AIRFLOW_DB_PASSWORD", "airflow"),
        ("sluice", "WAREHOUSE_DB_PASSWORD", "warehouse"),
        ("mlflow", "MLFLOW_DB_PASSWORD", "mlflow"),
    ]
    env = _env("airflow-scheduler")
    assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@postgres/warehouse" in env["AIRFLOW_CONN_SLUICE_WAREHOUSE"]
    assert any("@postgres/mlflow" in str(a) for a in SERVICES["mlflow"]["command"])


def test_monitoring_configs_parse_and_point_at_the_stack():
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
    assert jobs["sluice"]["metrics_path"] == "/sluice/metrics"
    assert jobs["sluice"]["static_configs"][0]["targets"] == ["airflow-apiserver:8080"]
    assert jobs["airflow"]["static_configs"][0]["targets"] == ["statsd-exporter:9102"]
    import json

    dashboard = json.loads((REPO / "deploy/grafana/dashboards/sluice.json").read_text())
    sql = [t["rawSql"] for p in dashboard["panels"] for t in p["targets"] if "rawSql" in t]
    assert sql and all("monitoring_metrics" in q for q in sql)


def test_docker_compose_validates_the_file_and_stops_on_a_missing_secret(tmp_path):
    """Debian's docker-compose (v1) parses and checks the file without an engine (.ci/run installs it)."""
    import shutil
    import subprocess

    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose; .ci/run does)")
    env = (REPO / ".env.example").read_text().replace("FERNET_KEY=\n", "FERNET_KEY=a-test-key\n")
    (tmp_path / "complete.env").write_text(env)
    (tmp_path / "incomplete.env").write_text(env.replace("AIRFLOW_DB_PASSWORD=change-me\n", ""))
    command = [compose, "-f", str(REPO / "docker-compose.yaml"), "--profile", "monitoring"]
    ok = subprocess.run(
        [*command, "--env-file", str(tmp_path / "complete.env"), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(
        [*command, "--env-file", str(tmp_path / "incomplete.env"), "config", "-q"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "AIRFLOW_DB_PASSWORD" in missing.stderr


# --- placeholder secrets are refused before anything starts ------------------------------------


def _generated_env() -> dict[str, str]:
    import secrets

    from cryptography.fernet import Fernet

    from sluice.deployment import SECRETS

    values = {name: secrets.token_urlsafe(24) for name in SECRETS}
    return values | {"FERNET_KEY": Fernet.generate_key().decode()}


def test_the_init_service_checks_the_secrets_before_anything_else():
    command = " ".join(SERVICES["airflow-init"]["command"])
    assert "sluice check-secrets && airflow db migrate" in command
    env = _env("airflow-init")
    from sluice.deployment import SECRETS

    for name, required in SECRETS.items():
        if name == "SLUICE_METRICS_TOKEN":
            assert name in _env("airflow-apiserver")
            continue
        assert name in env, f"airflow-init cannot check {name}"
        assert ("?" in env[name]) == required, name
    for service in SERVICES.values():
        depends = service.get("depends_on") or {}
        if "airflow-init" in depends:
            assert depends["airflow-init"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("AIRFLOW_JWT_SECRET", "change-me", "placeholder"),
        ("AIRFLOW_JWT_SECRET", "CHANGE-ME", "placeholder"),
        ("AIRFLOW_JWT_SECRET", "please-change-me-now-ok", "placeholder"),
        ("POSTGRES_PASSWORD", "postgres", "placeholder"),
        ("AIRFLOW_DB_PASSWORD", "airflow", "placeholder"),
        ("WAREHOUSE_DB_PASSWORD", "s3cr3t-pass", "characters long"),
        ("MLFLOW_DB_PASSWORD", "", "is empty"),
        ("MLFLOW_DB_PASSWORD", "aaaaaaaaaaaaaaaaaaaaaaaa", "too few characters"),
        ("FERNET_KEY", "change-me", "not a Fernet key"),
        ("FERNET_KEY", "", "is empty"),
        ("SLUICE_METRICS_TOKEN", "change-me", "placeholder"),
        ("GRAFANA_ADMIN_PASSWORD", "admin", "placeholder"),
    ],
)
def test_each_placeholder_or_weak_secret_is_refused_by_name(name, value, said):
    from sluice.deployment import placeholder_secrets

    assert placeholder_secrets(_generated_env()) == []
    problems = placeholder_secrets(_generated_env() | {name: value})
    assert len(problems) == 1 and problems[0].startswith(name) and said in problems[0], problems


def test_optional_secrets_may_be_left_empty():
    from sluice.deployment import placeholder_secrets

    assert (
        placeholder_secrets(_generated_env() | {"SLUICE_METRICS_TOKEN": "", "GRAFANA_ADMIN_PASSWORD": ""})
        == []
    )


def test_the_example_env_is_refused_by_the_cli_and_by_stack_local(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "check-secrets", "--env-file", str(REPO / ".env.example")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    for name in ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "FERNET_KEY", "SLUICE_METRICS_TOKEN"):
        assert name in done.stderr
    state = tmp_path / "stack"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "stack_local.py"),
            "start",
            "--env-file",
            str(REPO / ".env.example"),
            "--state",
            str(state),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0 and "refusing to start" in done.stderr
    assert "AIRFLOW_JWT_SECRET is the placeholder" in done.stderr
    assert not (state / "run").exists(), "nothing was started"
    good = tmp_path / "good.env"
    good.write_text("".join(f"{k}={v}\n" for k, v in _generated_env().items()))
    done = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "check-secrets", "--env-file", str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
