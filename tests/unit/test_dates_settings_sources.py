"""Day resolution, settings from the environment, and the landing-folder source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from sluice.dates import DayError, day_bounds, resolve_day, resolve_days
from sluice.domains.water import known_stations
from sluice.domains.water.source import SimulatedSource
from sluice.settings import ConfigError, Settings
from sluice.sources import DeliveryNotReady, make_source
from sluice.sources.landing import LandingSource

LOGICAL = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("param", "extras", "logical", "day"),
    [
        ("2026-03-05", [{"day": "2026-03-04"}], LOGICAL, dt.date(2026, 3, 5)),  # the Param wins
        (None, [{"day": "2026-03-04"}, {"day": "2026-03-03"}], LOGICAL, dt.date(2026, 3, 4)),  # newest event
        ("", [{"rows": 3}], LOGICAL, dt.date(2026, 3, 2)),  # else the logical date
        (None, [], dt.date(2026, 3, 1), dt.date(2026, 3, 1)),
    ],
)
def test_resolve_day(param, extras, logical, day):
    assert resolve_day(param, extras, logical) == day


@pytest.mark.parametrize(
    ("param", "extras", "days"),
    [
        ("2026-03-05", [{"day": "2026-03-04"}], ["2026-03-05"]),  # the Param wins
        (None, [{"day": "2026-03-04"}, {"day": "2026-03-02"}], ["2026-03-02", "2026-03-04"]),  # folded events
        (
            None,
            [{"days": ["2026-03-03", "2026-03-01"], "day": "2026-03-03"}, {"day": "2026-03-03"}],
            ["2026-03-01", "2026-03-03"],
        ),
        (None, [{"rows": 3}], ["2026-03-02"]),  # else the logical date
    ],
)
def test_resolve_days_covers_every_triggering_event(param, extras, days):
    assert resolve_days(param, extras, LOGICAL) == [dt.date.fromisoformat(d) for d in days]


def test_resolve_day_returns_a_plain_date_for_date_subclasses():
    import pendulum

    day = resolve_day(None, [], pendulum.datetime(2026, 3, 2, 5))
    assert type(day) is dt.date
    assert day == dt.date(2026, 3, 2)


def test_resolve_day_errors_say_where_they_looked():
    with pytest.raises(DayError, match="Param 'day'='03/02/2026' is not a day in the form YYYY-MM-DD"):
        resolve_day("03/02/2026")
    with pytest.raises(DayError, match="no day to work on"):
        resolve_day(None, [], None)


def test_day_bounds_follow_the_domains_timezone():
    start, end = day_bounds(dt.date(2013, 1, 1), "America/New_York")
    assert start == dt.datetime(2013, 1, 1, 5, tzinfo=dt.UTC)
    assert end == dt.datetime(2013, 1, 2, 4, 59, 59, 999999, tzinfo=dt.UTC)
    summer, _ = day_bounds(dt.date(2013, 7, 1), "America/New_York")
    assert summer == dt.datetime(2013, 7, 1, 4, tzinfo=dt.UTC), "daylight saving time"


def test_day_bounds_cover_the_whole_day():
    start, end = day_bounds(dt.date(2026, 3, 2))
    assert (start.isoformat(), end.isoformat()) == (
        "2026-03-02T00:00:00+00:00",
        "2026-03-02T23:59:59.999999+00:00",
    )


def test_mlflow_settings(tmp_path):
    default = Settings.from_env({"SLUICE_HOME": str(tmp_path)})
    assert default.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert default.artifacts_dir == tmp_path / "mlflow" / "artifacts"
    assert (default.experiment, default.model_name) == ("sluice", "water_potability")
    custom = Settings.from_env(
        {
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "SLUICE_MODEL_NAME": "potability_v2",
            "SLUICE_MLFLOW_EXPERIMENT": "lab",
        }
    )
    assert (custom.tracking_uri, custom.model_name, custom.experiment) == (
        "http://mlflow:5000",
        "potability_v2",
        "lab",
    )


def test_settings_defaults_and_overrides(tmp_path):
    default = Settings.from_env({})
    assert default.home.name == ".sluice"
    assert default.source == "simulated"
    assert default.landing == default.home / "landing"
    assert default.domain.name == "water"
    assert (default.model_name, default.label_delay_days) == ("water_potability", 3), "the domain's"
    assert len(default.domain.column("station_id").categories) == 12
    assert known_stations({"SLUICE_STATIONS": "A, B"}) == ("A", "B")
    custom = Settings.from_env(
        {
            "SLUICE_HOME": str(tmp_path),
            "SLUICE_SOURCE": "landing",
            "SLUICE_SEED": "9",
            "SLUICE_LABEL_DELAY_DAYS": "0",
            "SLUICE_MODEL_NAME": "mine",
        }
    )
    assert (custom.home, custom.source, custom.seed) == (tmp_path, "landing", 9)
    assert (custom.label_delay_days, custom.model_name) == (0, "mine"), "settings win over the domain"
    assert custom.default_warehouse_url == f"sqlite:///{tmp_path}/warehouse.db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLUICE_SOURCE": "ftp"}, "SLUICE_SOURCE='ftp': domain 'water' has the sources simulated, landing"),
        ({"SLUICE_ROWS_PER_DAY": "many"}, "SLUICE_ROWS_PER_DAY='many' is not an integer"),
        ({"SLUICE_ROWS_PER_DAY": "0"}, "SLUICE_ROWS_PER_DAY=0 must be at least 1"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_make_source(tmp_path):
    settings = Settings.from_env({"SLUICE_HOME": str(tmp_path)})
    assert isinstance(make_source(settings), SimulatedSource)
    landing = make_source(settings, "landing")
    assert isinstance(landing, LandingSource)
    assert landing.root == tmp_path / "landing"
    with pytest.raises(ConfigError, match="source 'kafka'"):
        make_source(settings, "kafka")


def test_landing_reads_every_file_of_the_day_on_its_own(tmp_path):
    day = dt.date(2026, 3, 2)
    folder = tmp_path / day.isoformat()
    folder.mkdir()
    (folder / "a.csv").write_text("sample_id,ph\ns1,7.10\ns2,\n")
    pd.DataFrame({"sample_id": ["s3"], "ph": [6.5]}).to_parquet(folder / "b.parquet")
    (folder / "notes.txt").write_text("not data")
    (folder / ".upload.csv.partial").write_text("sample_id,ph\ns9")
    source = LandingSource(tmp_path, keep=tmp_path / "kept")
    frame = source.fetch(day, LOGICAL)
    assert frame["sample_id"].tolist() == ["s1", "s2", "s3"]
    assert frame["ph"].iloc[0] == "7.10"  # CSV text kept as written
    assert pd.isna(frame["ph"].iloc[1])
    files = {f.name: f for f in source.deliver(day, LOGICAL).files}
    assert sorted(files) == ["a.csv", "b.parquet", "notes.txt"], "hidden files are not part of the day"
    assert (files["a.csv"].rows, files["a.csv"].problem) == (2, None)
    assert "not a CSV or Parquet file" in files["notes.txt"].problem
    assert Path(files["notes.txt"].kept).read_text() == "not data", "kept as delivered"


def test_landing_day_not_delivered_yet(tmp_path):
    with pytest.raises(DeliveryNotReady, match="nothing delivered for 2026-03-02"):
        LandingSource(tmp_path).fetch(dt.date(2026, 3, 2), LOGICAL)


def test_landing_unreadable_file_is_named_and_kept_and_the_rest_read(tmp_path):
    folder = tmp_path / "2026-03-02"
    folder.mkdir()
    (folder / "broken.parquet").write_text("not parquet")
    (folder / "good.csv").write_text("sample_id\ns1\n")
    delivery = LandingSource(tmp_path, keep=tmp_path / "kept").deliver(dt.date(2026, 3, 2), LOGICAL)
    broken, good = delivery.files
    assert broken.name == "broken.parquet" and broken.problem.startswith("cannot be read as PARQUET")
    assert Path(broken.kept).read_text() == "not parquet"
    assert good.problem is None and [p.file.name for p in delivery.parts] == ["good.csv"]


def test_landing_labels(tmp_path):
    folder = tmp_path / "labels" / "2026-03-02"
    folder.mkdir(parents=True)
    (folder / "lab.csv").write_text("sample_id,label,labelled_at\ns1,1,2026-03-02T10:00:00\n")
    assert LandingSource(tmp_path).fetch_labels(dt.date(2026, 3, 2), LOGICAL)["label"].tolist() == ["1"]
    assert LandingSource(tmp_path).fetch_labels(dt.date(2026, 3, 3), LOGICAL).empty


def test_a_named_worker_reports_its_name_as_hostname(monkeypatch):
    import socket

    from sluice.settings import worker_hostname

    monkeypatch.delenv("SLUICE_WORKER_NAME", raising=False)
    assert worker_hostname() == socket.getfqdn()
    monkeypatch.setenv("SLUICE_WORKER_NAME", "worker-2")
    assert worker_hostname() == "worker-2"


@pytest.mark.parametrize(
    ("value", "mode"), [(None, "auto"), ("", "auto"), ("human", "human"), ("auto", "auto")]
)
def test_the_approval_setting(tmp_path, value, mode):
    env = {"SLUICE_HOME": str(tmp_path)} | ({"SLUICE_APPROVAL": value} if value is not None else {})
    assert Settings.from_env(env).approval == mode


def test_an_unknown_approval_mode_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="SLUICE_APPROVAL='always': choose one of auto, human"):
        Settings.from_env({"SLUICE_HOME": str(tmp_path), "SLUICE_APPROVAL": "always"})
