"""The shell environment `make up` and the CLIs share (scripts/env.sh)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

ENV_SH = Path(__file__).resolve().parents[2] / "scripts" / "env.sh"


def sourced(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SLUICE", "MLFLOW"))}
    env |= overrides
    out = subprocess.run(
        ["bash", "-c", f'source "{ENV_SH}" && env -0'], env=env, capture_output=True, check=True
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def test_defaults_put_all_state_under_sluice_home(tmp_path):
    env = sourced(SLUICE_HOME=str(tmp_path))
    assert env["AIRFLOW_HOME"] == f"{tmp_path}/airflow"
    assert env["AIRFLOW_CONN_SLUICE_WAREHOUSE"] == f"sqlite:///{tmp_path}/warehouse.db"
    assert env["SLUICE_MLFLOW_BACKEND"] == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000", "tasks talk to the MLflow server"
    metadata = f"postgresql+psycopg://postgres@/airflow?host={tmp_path}/pg"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == metadata, "PostgreSQL from the venv, not SQLite"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == metadata.replace("psycopg:", "psycopg_async:")
    assert (env["AIRFLOW__CORE__PARALLELISM"], env["AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG"]) == ("4", "4")


def test_a_metadata_database_of_your_own_is_kept_with_its_async_twin():
    own = "postgresql+psycopg://airflow:pw@db:5432/airflow"
    env = sourced(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=own)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == own
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"]
        == "postgresql+psycopg_async://airflow:pw@db:5432/airflow"
    )


def test_moving_the_api_port_moves_the_execution_api_with_it():
    env = sourced(AIRFLOW__API__PORT="8089", MLFLOW_PORT="5009")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8089/execution/"
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5009"


def test_what_is_already_set_wins():
    env = sourced(MLFLOW_TRACKING_URI="http://mlflow:5000", AIRFLOW_CONN_SLUICE_WAREHOUSE="postgresql://w")
    assert (env["MLFLOW_TRACKING_URI"], env["AIRFLOW_CONN_SLUICE_WAREHOUSE"]) == (
        "http://mlflow:5000",
        "postgresql://w",
    )


DEMO = ENV_SH.parent / "demo.py"


def _steps_of(out: Path) -> list[int]:
    """Processes of a demo run whose state folder is ``out``, the demo itself excluded."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdline = status.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--child" in cmdline and any(str(out).encode() in part for part in cmdline):
            found.append(int(status.parent.name))
    return found


def _started(out: Path, timeout: float = 120):
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SLUICE", "MLFLOW"))}
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--days", "3", "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while not _steps_of(out) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _steps_of(out), "the demo started its data step"
    return demo


def _gone(out: Path, timeout: float = 30) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while _steps_of(out) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not _steps_of(out)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_the_demo_stops_its_step_processes(tmp_path, how):
    """Airflow's in-process runs ignore SIGTERM: the demo must stop them itself on Ctrl-C or
    SIGTERM, and they must not outlive it even when it is killed outright."""
    demo = _started(tmp_path / "demo")
    demo.send_signal(how)
    assert demo.wait(timeout=60) != 0
    assert _gone(tmp_path / "demo"), "a step process outlived the demo"


def _demo_module():
    return _script("demo")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--domain", "flights", "--policies", "never"], "monitor among them"),
        (["--domain", "flights", "--policies", "monitor,weekly"], "monitor among them"),
        (["--policies", "monitor"], "water's day table compares all three"),
    ],
)
def test_the_demo_refuses_policies_it_cannot_run_before_it_starts(tmp_path, capsys, argv, message):
    demo = _demo_module()
    with pytest.raises(SystemExit) as stopped:
        demo.main([*argv, "--out", str(tmp_path / "demo")])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "demo").exists(), "nothing was started or written"


def test_a_flights_summary_of_the_monitor_policy_alone():
    demo = _demo_module()
    month = {"month": "2013-02", "flights": 900, "late_share": 0.25, "roc_auc": 0.61, "accuracy": 0.73}
    month |= {"baseline_roc_auc": 0.58, "retrains": 1, "promotions": 1, "alert_days": 3}
    summary = {"first": "2013-02-01", "last": "2013-02-28", "roc_auc": 0.61, "accuracy": 0.73}
    summary |= {"retrains": 1, "promotions": 1, "alert_days": 3, "alert_days_performance_fell": 2}
    summary |= {
        "baseline_roc_auc": 0.58,
        "alerts": [{"day": "2013-02-03", "metrics": ["accuracy_drop"], "performance_fell": True}],
    }
    text = demo.render_months({"monitor": {"summary": summary, "months": [month]}}, 60.0)
    assert "never" not in text and "daily auc" not in text, "only the policy that ran"
    assert "0.610 / 73.0" in text and "1/1/3" in text
    assert "2013-02-03* accuracy_drop" in text


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"sluice_{name}_script", ENV_SH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _group_gone(pgid: int, timeout: float = 5.0) -> bool:
    """No process of the group is left (a killed child is reaped by init shortly after)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_stack_local_stop_ends_every_group_side_by_side_and_kills_what_ignores_sigterm(tmp_path):
    """Three leaders that take 2 s to exit on SIGTERM, each with a child in its group, and one
    that ignores SIGTERM: all are signalled at once (one after the other would take over 6 s),
    the stubborn one is killed after the grace, no child is left, every pid file is removed."""
    import argparse
    import time

    stack_local = _script("stack_local")
    run = tmp_path / "run"
    run.mkdir()
    slow = 'sleep 300 & trap "sleep 2; exit 0" TERM; while :; do sleep 0.1; done'
    stubborn = 'trap "" TERM; sleep 300 & while :; do sleep 0.1; done'
    groups = {}
    for name, script in [("a", slow), ("b", slow), ("c", slow), ("stubborn", stubborn)]:
        process = subprocess.Popen(["bash", "-c", script], start_new_session=True)
        (run / f"{name}.pid").write_text(str(process.pid))
        groups[name] = process
    (run / "gone.pid").write_text("4194304")  # above pid_max: a leader already gone
    time.sleep(0.5)  # the traps are set

    started = time.monotonic()
    stack_local.stop(argparse.Namespace(state=str(tmp_path)), grace=3.0)
    took = time.monotonic() - started

    assert took < 5.5, f"stop took {took:.1f} s: the groups were stopped one after the other"
    for name, process in groups.items():
        assert process.wait(timeout=5) is not None, name
        assert _group_gone(process.pid), f"{name}: a child outlived its leader"
    assert groups["stubborn"].returncode == -signal.SIGKILL
    assert {groups[n].returncode for n in "abc"} == {0}
    assert not list(run.glob("*.pid"))
