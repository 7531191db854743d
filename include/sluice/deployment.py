"""Checks of a production deployment's secrets, before anything starts.

``.env.example`` ships placeholders (``change-me``) so that every variable is named; a stack started
with them would let anyone who read the example forge an admin token (the API server's JWT
secret) or log in to the databases. :func:`placeholder_secrets` names every secret that is still a
placeholder, a well-known word, or too short; ``sluice check-secrets`` runs it first thing in the
stack's ``airflow-init`` service (every other service waits for that one to succeed), and
``make stack-local`` runs it on the env file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SECRETS: Mapping[str, bool] = {
    "POSTGRES_PASSWORD": True,
    "AIRFLOW_DB_PASSWORD": True,
    "WAREHOUSE_DB_PASSWORD": True,
    "MLFLOW_DB_PASSWORD": True,
    "AIRFLOW_JWT_SECRET": True,
    "FERNET_KEY": True,
    "SLUICE_METRICS_TOKEN": False,
    "GRAFANA_ADMIN_PASSWORD": False,
}
"""The stack's secrets, and whether each must be set (the others are optional: empty is off)."""
MIN_LENGTH = 16
PLACEHOLDERS = frozenset(
    {
        "change-me",
        "changeme",
        "change_me",
        "changethis",
        "secret",
        "password",
        "passw0rd",
        "admin",
        "airflow",
        "postgres",
        "mlflow",
        "sluice",
        "grafana",
        "example",
        "default",
        "test",
        "todo",
        "xxx",
    }
)


def _fernet_problem(value: str) -> str | None:
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode())
    except (ValueError, TypeError):
        return "is not a Fernet key (32 url-safe base64-encoded bytes)"
    return None


def placeholder_secrets(values: Mapping[str, str]) -> list[str]:
    """One line per secret of :data:`SECRETS` in ``values`` that must not be used as it is."""
    problems = []
    for name, required in SECRETS.items():
        value = (values.get(name) or "").strip()
        if not value:
            if required:
                problems.append(f"{name} is empty")
            continue
        if name == "FERNET_KEY":
            problem = _fernet_problem(value)
        elif value.lower().strip("!.") in PLACEHOLDERS or "change-me" in value.lower():
            problem = f"is the placeholder {value!r}"
        elif len(value) < MIN_LENGTH:
            problem = f"is {len(value)} characters long (at least {MIN_LENGTH})"
        elif len(set(value)) < 6:
            problem = "repeats too few characters to be a secret"
        else:
            problem = None
        if problem:
            problems.append(f"{name} {problem}")
    return problems


HOW_TO = (
    'generate each with: python -c "import secrets; print(secrets.token_urlsafe(32))" (FERNET_KEY: '
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
)


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (docker compose's ``.env``); comments and blank lines skipped, quotes
    around a value dropped."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values
