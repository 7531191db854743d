"""The ``sluice`` command: init and status against a real warehouse."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from sluice import cli
from tests.factories import day


def _ingested(warehouse, d: dt.date, published: int) -> None:
    row = {
        "sample_date": d,
        "batch_id": f"b-{d}",
        "source": "simulated",
        "columns": "[]",
        "row_count": published + 1,
        "landed_at": pd.Timestamp(d, tz="UTC"),
        "status": "partial",
        "published_rows": published,
        "quarantined_rows": 1,
    }
    warehouse.replace_partition("ingest_batches", d, pd.DataFrame([row]))


def _scored(warehouse, d: dt.date, version: int, rows: int, hour: int) -> None:
    row = {
        "sample_date": d,
        "model_name": "water_potability",
        "model_version": version,
        "feature_version": "v1",
        "row_count": rows,
        "threshold": 0.5,
        "scored_by": "sluice_score/run",
        "scored_at": pd.Timestamp(d, tz="UTC") + pd.Timedelta(hours=hour),
    }
    with warehouse.transaction() as tx:
        tx.replace_partition("prediction_batches", d, pd.DataFrame([row]), model_version=version)


def test_status_shows_each_day_and_the_version_serving_it(warehouse, warehouse_url, capsys):
    assert cli.main(["--warehouse", warehouse_url, "status"]) == 0
    assert "no day has been ingested yet" in capsys.readouterr().out

    _ingested(warehouse, day(0), 10)
    _ingested(warehouse, day(1), 20)
    _scored(warehouse, day(0), version=1, rows=10, hour=1)
    _scored(warehouse, day(0), version=2, rows=10, hour=5)  # re-scored by a new champion
    assert cli.main(["--warehouse", warehouse_url, "status", "--days", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "scored" in lines[0]
    first, second = lines[1].split(), lines[2].split()
    assert first[:5] == ["2026-01-01", "partial", "11", "10", "1"]
    assert first[5:8] == ["10", "by", "v2"]
    assert second[:6] == ["2026-01-02", "partial", "21", "20", "1", "-"]


def test_init_and_domain_name_the_domain_and_refuse_a_broken_one(
    warehouse_url, tmp_path, monkeypatch, capsys
):
    import json

    assert cli.main(["--warehouse", warehouse_url, "init"]) == 0
    assert "domain: water (sluice.domains.water, features v1)" in capsys.readouterr().out
    assert cli.main(["domain"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert (described["domain"], described["model_name"]) == ("water", "water_potability")
    assert described["features"][-1] == "turbidity_station_mean"

    (tmp_path / "half_done.py").write_text("DOMAIN = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SLUICE_DOMAIN", "half_done")
    assert cli.main(["--warehouse", warehouse_url, "init"]) == 2
    err = capsys.readouterr().err
    assert "sluice init: domain module 'half_done' defines no DOMAIN" in err
