"""A ``make up`` deployment in a folder of its own, driven as a user drives it: the CLI and the
REST API. Shared by the backfill integration test and ``bench/backfill.py``.

The deployment's processes get a clean environment: nothing of the caller's Airflow, MLflow or
Sluice settings (the test session's own SQLite home, say) leaks into them; ``scripts/env.sh``
sets everything from ``SLUICE_HOME`` and the ports.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OURS = ("AIRFLOW", "SLUICE_", "MLFLOW_", "GX_")


@dataclass
class Deployment:
    home: Path
    port: int
    mlflow_port: int
    env_extra: dict[str, str] = field(default_factory=dict)
    _token: str | None = None

    @property
    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
        return (
            clean
            | {
                "SLUICE_HOME": str(self.home),
                "AIRFLOW__API__PORT": str(self.port),
                "MLFLOW_PORT": str(self.mlflow_port),
            }
            | self.env_extra
        )

    @property
    def warehouse_url(self) -> str:
        return f"sqlite:///{self.home / 'warehouse.db'}"

    def up(self, timeout: float = 600) -> None:
        subprocess.run(["bash", str(REPO / "scripts" / "up.sh")], env=self.env, check=True, timeout=timeout)

    def down(self) -> None:
        subprocess.run(["bash", str(REPO / "scripts" / "down.sh")], env=self.env, check=False, timeout=180)

    def shell(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``command`` in bash after ``source $SLUICE_HOME/env``, as the README tells a user."""
        return subprocess.run(
            ["bash", "-c", f"source {self.home / 'env'} && {command}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def api(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        if self._token is None:
            password_file = self.home / "airflow" / "simple_auth_manager_passwords.json.generated"
            password = json.loads(password_file.read_text())["admin"]
            self._token = self._call("/auth/token", {"username": "admin", "password": password})[
                "access_token"
            ]
        return self._call(path, body, method)

    def _call(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        request = urllib.request.Request(
            f"http://localhost:{self.port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method or ("POST" if body is not None else "GET"),
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self._token}"} if self._token else {}),
        )
        for attempt in range(3):
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    return json.loads(answer.read())
            except urllib.error.HTTPError as error:
                # The API server answered 500 once on a busy CI machine, listing task instances;
                # a read is asked again, and what keeps failing is reported with the server's log.
                if error.code < 500 or request.get_method() != "GET" or attempt == 2:
                    log = self.home / "logs" / "apiserver.log"
                    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
                    raise AssertionError(
                        f"{request.get_method()} {path}: {error.code} {error.read()[:2000]!r}\n"
                        f"apiserver log:\n{tail}"
                    ) from error
                time.sleep(5)
        raise AssertionError("unreachable")

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.api(f"/api/v2/dags/{dag_id}", {"is_paused": False}, method="PATCH")

    def task_instances(self, dag_ids: Iterable[str]) -> list[dict]:
        found = []
        for dag_id in dag_ids:
            offset = 0
            while True:
                page = self.api(f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=100&offset={offset}")
                found += page["task_instances"]
                offset += 100
                if offset >= page["total_entries"]:
                    break
        return found

    def register_champion(self) -> int:
        """A small fitted model registered in the deployment's MLflow as ``water_potability@champion``;
        its version."""
        from sluice.families import FAMILIES
        from sluice.modelstore import ModelStore
        from tests.factories import FEATURES, register_model, synthetic

        frame = synthetic(6, seed=1)
        model = FAMILIES["logistic_regression"].build(0).fit(frame[list(FEATURES)], frame["label"])
        return register_model(
            "water_potability",
            model,
            frame[list(FEATURES)],
            tags={"sluice.feature_version": "v1"},
            alias="champion",
            store=ModelStore(f"http://127.0.0.1:{self.mlflow_port}", "sluice"),
        )

    def wait(self, done: Any, timeout: float, every: float = 5.0) -> Any:
        """Poll ``done()`` until it returns something true; its last value either way."""
        deadline = time.monotonic() + timeout
        while True:
            value = done()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(every)


def days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def seconds(instance: dict, start: str = "start_date") -> float | None:
    if not instance.get(start) or not instance.get("end_date"):
        return None
    parse = dt.datetime.fromisoformat
    return (parse(instance["end_date"]) - parse(instance[start])).total_seconds()


def most_at_once(instances: Iterable[dict]) -> int:
    """The largest number of task instances that were running at the same moment."""
    edges = []
    for t in instances:
        if t.get("start_date") and t.get("end_date"):
            edges += [(t["start_date"], 1), (t["end_date"], -1)]
    running = peak = 0
    for _, step in sorted(edges, key=lambda e: (dt.datetime.fromisoformat(e[0]), e[1])):
        running += step
        peak = max(peak, running)
    return peak
