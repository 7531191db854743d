"""Policy for every DAG file: imports cleanly, is documented, owned, tagged, retried, and cheap to parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
HELPERS = {"sluice_common.py", "sluice_alerts.py", "sluice_approval.py"}
DAG_FILES = sorted(p for p in DAGS.glob("sluice_*.py") if p.name not in HELPERS)
HEAVY = (
    "pandas",
    "numpy",
    "scipy",
    "sklearn",
    "mlflow",
    "great_expectations",
    "evidently",
    "pyarrow",
    "sqlalchemy",
)
PARSE_BUDGET_S = 0.050


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_helpers_are_not_parsed_as_dag_files(dagbag):
    parsed = {Path(f).name for f in dagbag.file_last_changed}
    assert "sluice_ingest.py" in parsed
    assert not HELPERS & parsed, "dags/.airflowignore should exclude the helper modules"


def test_every_dag_file_defines_the_dag_named_after_it(dagbag):
    assert DAG_FILES, "no DAG files found"
    assert {p.stem for p in DAG_FILES} == set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_policy(dagbag, dag_file):
    dag = dagbag.dags[dag_file.stem]
    assert dag.tags and "sluice" in dag.tags
    assert dag.doc_md and dag.doc_md.strip(), "the module docstring is the DAG's doc_md"
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), f"{task.task_id} has no owner"
        assert task.retries >= 2, f"{task.task_id} has retries={task.retries}"
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("title") and param.description, (
            f"Param {name!r} needs a title and a description"
        )


PROBE = """
import json, sys, time, runpy
import airflow.sdk  # warm: what every DAG file needs is already imported by the dag-processor
sys.path.insert(0, {dags!r})
path = {path!r}
before = set(sys.modules)
runpy.run_path(path)  # first parse imports the DAG's own modules
times = []
for _ in range(5):
    t = time.perf_counter(); runpy.run_path(path); times.append(time.perf_counter() - t)
added = set(sys.modules) - before
heavy = sorted(m for m in added if m.split(".")[0] in {heavy!r})
print(json.dumps({{"best": min(times), "heavy": heavy}}))
"""


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_parsing_is_cheap_and_imports_nothing_heavy(dag_file):
    code = PROBE.format(dags=str(DAGS), path=str(dag_file), heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"{dag_file.name} imports {result['heavy']} at parse time"
    assert result["best"] < PARSE_BUDGET_S, f"{dag_file.name} parses in {result['best'] * 1000:.1f} ms warm"


def test_schedules_and_assets(dagbag):
    ingest = dagbag.dags["sluice_ingest"]
    assert ingest.catchup is False
    assert type(ingest.timetable).__name__ == "CronDataIntervalTimetable"
    outlets = {t.task_id: [a.name for a in t.outlets] for t in ingest.tasks}
    assert outlets["publish"] == ["sluice.observations"]
    assert outlets["labels"] == ["sluice.labels"]


def test_scoring_runs_on_new_features_or_a_new_champion(dagbag):
    score = dagbag.dags["sluice_score"]
    condition = score.timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # either one, not both (a list would mean both)
    assert {a.name for a in condition.objects} == {"sluice.features", "sluice.champion"}
    outlets = {t.task_id: [a.name for a in t.outlets] for t in score.tasks}
    assert outlets == {"pin": [], "score": ["sluice.predictions"]}


def test_params_render_as_a_form(dagbag):
    params = dagbag.dags["sluice_ingest"].params
    assert json.loads(json.dumps(params.dump()))["tolerance"] == 0.05
    with pytest.raises(Exception, match="(?i)maximum|less than or equal"):
        params["tolerance"] = 1.5


def test_a_broken_domain_fails_every_dag_at_parse_time_naming_it(tmp_path, monkeypatch):
    """SLUICE_DOMAIN names a module with a mistake: every Sluice DAG shows an import error that names
    the module and the mistake, before any run starts (not at the fifth task of a run)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    (tmp_path / "typo_domain.py").write_text("from sluice.domain import Domain\nDOMAIN = Domain(name='x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SLUICE_DOMAIN", "typo_domain")
    bag = BundleDagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")
    assert {Path(f).name for f in bag.import_errors} == {p.name for p in DAG_FILES}
    for error in bag.import_errors.values():
        assert "SLUICE_DOMAIN='typo_domain' cannot be imported" in error
        assert "missing 5 required positional arguments" in error
    sys.modules.pop("typo_domain", None)


def test_every_dag_reaches_any_domains_history_without_catching_up(dagbag):
    """A run for a day before a DAG's start date runs no task: the flights domain replays 2013."""
    import datetime as dt

    for dag in dagbag.dags.values():
        if dag.dag_id == "sluice_train":  # weekly: no start date, so unpausing it waits for Monday
            assert dag.start_date is None
        else:
            assert dag.start_date <= dt.datetime(2013, 1, 1, tzinfo=dt.UTC), dag.dag_id
        assert dag.catchup is False, f"{dag.dag_id} would schedule every day since its start"
