"""Batch scoring: one pinned model version scores a day's features, streamed, in one write.

A scoring run resolves ``models:/<name>@champion`` to a concrete version once (:func:`pin`) and uses
that version for every row it writes; ``model_name`` and ``model_version`` sit next to every
prediction. Before anything is read, the model's MLflow signature is checked against the
``features`` table (:func:`check_inputs`): a model that needs a column the table lacks, or of
another type, or that was trained on another feature set, fails with the names.

:func:`score_day` streams the day's features in chunks and writes the day's ``predictions`` for
that version in one transaction, replacing what that version wrote for the day before (other
versions' rows stay: they are what was served). The three stages overlap in threads, each chunk
passing through bounded queues, so memory stays flat however large the day:

* read: on PostgreSQL the ADBC driver runs ``COPY … TO STDOUT (FORMAT BINARY)`` and hands over
  Arrow columns (no Python object per value); on SQLite a server-side cursor in frames;
* predict: the pinned model's ``predict_proba`` (scikit-learn releases the GIL in its inner loops);
* write: on PostgreSQL ADBC's bulk ingest (binary ``COPY … FROM STDIN``) inside the transaction
  that deleted the old rows; on SQLite ``executemany`` in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, Integer, Text, select

from sluice.errors import SluiceError
from sluice.frames import quoted
from sluice.modelstore import ModelStore
from sluice.streams import Counted, default_workers, parallel_map, prefetch
from sluice.tables import feature_batches, prediction_batches, predictions
from sluice.training import THRESHOLD
from sluice.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy import Table

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 100_000


class ScoringError(SluiceError, RuntimeError):
    """The model and the data do not fit together, or there is nothing to score; the message says why."""


# MLflow signature types each warehouse column type can feed without loss.
_COMPATIBLE = {Float: {"double", "float"}, Integer: {"long", "integer", "double", "float"}, Text: {"string"}}


@dataclass(frozen=True)
class Pinned:
    """The model version a run scores with, resolved once at the start of the run."""

    name: str
    version: int
    inputs: tuple[tuple[str, str, bool], ...]
    """The signature's input columns: (name, MLflow type, required), in the model's order."""
    feature_version: str | None
    """The feature set the version was trained on (its ``sluice.feature_version`` tag), if known."""
    threshold: float = THRESHOLD

    @property
    def input_names(self) -> list[str]:
        return [name for name, _, _ in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pinned:
        inputs = tuple((str(n), str(t), bool(r)) for n, t, r in data["inputs"])
        return cls(
            name=data["name"],
            version=int(data["version"]),
            inputs=inputs,
            feature_version=data.get("feature_version"),
            threshold=float(data.get("threshold", THRESHOLD)),
        )

    def __str__(self) -> str:
        return f"{self.name} version {self.version}"


@dataclass(frozen=True)
class ScoreResult:
    day: dt.date
    model_name: str
    model_version: int
    rows: int
    chunks: int
    seconds: float


def pin(
    store: ModelStore, name: str, version: int | None = None, table: Table | None = None
) -> Pinned | None:
    """The version to score with: ``version`` when given, else the one the ``champion`` alias points
    to now (None when there is no champion yet), with its signature's inputs, checked against
    ``table`` (default: the active domain's ``features``; see :func:`check_inputs`)."""
    import mlflow

    from sluice import registry

    if version is None:
        version = registry.alias_version(store, name, registry.CHAMPION)
        if version is None:
            return None
    registered = registry.model_version(store, name, version)
    with store.active():
        info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    if info.signature is None or info.signature.inputs is None:
        raise ScoringError(
            f"{name} version {version} was registered without an MLflow signature, so its inputs "
            "cannot be checked against the features; register it with one (sluice_train does)"
        )
    inputs = tuple(
        (spec.name, spec.type.name if hasattr(spec.type, "name") else str(spec.type), spec.required)
        for spec in info.signature.inputs.inputs
    )
    if any(column is None for column, _, _ in inputs):
        raise ScoringError(
            f"{name} version {version} has a tensor signature without column names; "
            "scoring needs a column-based signature"
        )
    pinned = Pinned(name, int(version), inputs, registered.tags.get("sluice.feature_version"))
    check_inputs(pinned, table)
    return pinned


def check_inputs(pinned: Pinned, table: Table | None = None) -> None:
    """Refuse a model whose signature asks for columns ``table`` (default: the active domain's
    ``features``) does not hold, or holds as another type; the message names every such column."""
    if table is None:
        from sluice.domain import active
        from sluice.tables import schema_for

        table = schema_for(active()).features
    missing, mismatched = [], []
    # Every column counts, "optional" ones too: MLflow marks a column optional when its training
    # values had gaps, but a fitted scikit-learn pipeline needs every column it was fitted on.
    for name, mlflow_type, _ in pinned.inputs:
        if name not in table.c:
            missing.append(name)
            continue
        column_type = table.c[name].type
        allowed = next(
            (types for sa_type, types in _COMPATIBLE.items() if isinstance(column_type, sa_type)), set()
        )
        if mlflow_type not in allowed:
            mismatched.append(f"{name} (model expects {mlflow_type}, {table.name} has {column_type})")
    if missing or mismatched:
        parts = []
        if missing:
            parts.append(f"columns missing from {table.name}: {', '.join(missing)}")
        if mismatched:
            parts.append(f"columns of another type: {', '.join(mismatched)}")
        raise ScoringError(f"{pinned}'s signature does not match the {table.name} table: {'; '.join(parts)}")


def load(store: ModelStore, pinned: Pinned) -> Any:
    """The pinned version's fitted model (once per task: it is the same for every day)."""
    from sluice import registry

    return registry.load(store, pinned.name, pinned.version)


def summary(results: list[ScoreResult]) -> dict[str, Any]:
    """The ``predictions`` asset event's extra: the model version, the days, the rows."""
    return {
        "model_name": results[0].model_name,
        "version": results[0].model_version,
        "day": max(r.day for r in results).isoformat(),
        "days": [r.day.isoformat() for r in results],
        "rows": sum(r.rows for r in results),
        "rows_by_day": {r.day.isoformat(): r.rows for r in results},
    }


def _feature_version(warehouse: Warehouse, day: dt.date) -> str:
    row = warehouse.fetch(
        select(feature_batches.c.feature_version, feature_batches.c.status).where(
            feature_batches.c.sample_date == day
        )
    )
    if not row or row[0]["status"] != "published":
        status = row[0]["status"] if row else "not built"
        raise ScoringError(f"features of {day} are {status}: nothing to score (see sluice_features)")
    return row[0]["feature_version"]


def score_day(
    warehouse: Warehouse,
    day: dt.date,
    pinned: Pinned,
    model: Any,
    *,
    scored_at: dt.datetime,
    scored_by: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
) -> ScoreResult:
    """Score ``day``'s features with ``model`` (the pinned version) and replace that version's
    predictions of the day, in one transaction: a failure leaves the previous rows as they were."""
    if chunk_size < 1:
        raise ScoringError(f"chunk_size must be a positive number of rows, got {chunk_size}")
    check_inputs(pinned, warehouse.features)
    feature_version = _feature_version(warehouse, day)
    if pinned.feature_version and pinned.feature_version != feature_version:
        raise ScoringError(
            f"{pinned} was trained on feature set {pinned.feature_version}, but the features of {day} "
            f"are {feature_version}: rebuild the day's features or score with a matching version"
        )
    started = time.perf_counter()
    predictor = _Predictor(model, pinned, day, scored_at)
    columns = ["sample_id", *pinned.input_names]
    batch = {
        "sample_date": day,
        "model_name": pinned.name,
        "model_version": pinned.version,
        "feature_version": feature_version,
        "threshold": pinned.threshold,
        "scored_by": scored_by,
        "scored_at": scored_at,
    }
    stream = _pipeline(
        read_chunks(warehouse, day, columns, chunk_size), predictor, workers or default_workers()
    )
    write_predictions(warehouse, batch, stream)
    return ScoreResult(
        day, pinned.name, pinned.version, stream.rows, stream.chunks, time.perf_counter() - started
    )


def score_days(
    warehouse: Warehouse,
    store: ModelStore,
    days: Iterable[dt.date],
    pinned: Pinned,
    *,
    scored_at: dt.datetime,
    scored_by: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[ScoreResult]:
    """Load the pinned version once and score each of ``days`` with it (see :func:`score_day`)."""
    model = load(store, pinned)
    results = []
    for day in days:
        result = score_day(
            warehouse, day, pinned, model, scored_at=scored_at, scored_by=scored_by, chunk_size=chunk_size
        )
        log.info(
            "%s: %d rows scored with %s in %.1f s (%d chunks, %.0f rows/s)",
            day,
            result.rows,
            pinned,
            result.seconds,
            result.chunks,
            result.rows / result.seconds if result.seconds else 0,
        )
        results.append(result)
    return results


# --- predict ---------------------------------------------------------------------------------


def prediction_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("sample_date", pa.date32()),
            ("sample_id", pa.string()),
            ("model_name", pa.string()),
            ("model_version", pa.int32()),
            ("score", pa.float64()),
            ("predicted", pa.int16()),
            ("scored_at", pa.timestamp("us", tz="UTC")),
        ]
    )


class _Predictor:
    """Turns a chunk of features (Arrow) into a batch of ``predictions`` rows (Arrow)."""

    def __init__(self, model: Any, pinned: Pinned, day: dt.date, scored_at: dt.datetime) -> None:
        classes = [int(c) for c in getattr(model, "classes_", [0, 1])]
        if 1 not in classes:
            raise ScoringError(f"{pinned} does not predict class 1: its classes are {classes}")
        self.model, self.pinned, self.positive = model, pinned, classes.index(1)
        self.day, self.scored_at = day, pd.Timestamp(scored_at).tz_convert("UTC")
        self.schema = prediction_schema()

    def __call__(self, chunk: pa.Table) -> pa.RecordBatch:
        import pyarrow as pa

        frame = chunk.select(self.pinned.input_names).to_pandas()
        scores = np.asarray(self.model.predict_proba(frame)[:, self.positive], dtype="float64")
        bad = ~((scores >= 0) & (scores <= 1))
        if bad.any():
            ids = chunk.column("sample_id").take(np.flatnonzero(bad)[:5]).to_pylist()
            raise ScoringError(f"{self.pinned} gave scores outside [0, 1] (or NaN) for samples {ids}")
        n = len(scores)
        return pa.RecordBatch.from_arrays(
            [
                pa.array(np.full(n, np.datetime64(self.day, "D"))),
                chunk.column("sample_id").combine_chunks().cast(pa.string()),
                pa.array(np.full(n, self.pinned.name, dtype=object), pa.string()),
                pa.array(np.full(n, self.pinned.version, dtype=np.int32)),
                pa.array(scores),
                pa.array((scores >= self.pinned.threshold).astype(np.int16)),
                pa.array(np.full(n, self.scored_at.value // 1000, dtype=np.int64)).cast(
                    self.schema.field("scored_at").type
                ),
            ],
            schema=self.schema,
        )


def _pipeline(chunks: Iterable[pa.Table], predict: Callable[[pa.Table], Any], workers: int) -> Counted:
    """Read ahead in one thread, predict in ``workers`` threads, write in the caller's: at once."""
    return Counted(parallel_map(predict, prefetch(chunks), workers))


def read_chunks(
    warehouse: Warehouse, day: dt.date, columns: list[str], chunk_size: int
) -> Iterator[pa.Table]:
    """The day's ``features`` (only ``columns``) in Arrow tables of ``chunk_size`` rows."""
    return warehouse.arrow_chunks(warehouse.features, day, columns, chunk_size)


def write_predictions(warehouse: Warehouse, batch: dict[str, Any], batches: Iterable[pa.RecordBatch]) -> int:
    """Replace what ``batch``'s model version predicted for ``batch``'s day with ``batches``, and
    record the batch in ``prediction_batches``, in one transaction; the number of rows written."""
    counted = batches if isinstance(batches, Counted) else Counted(batches)
    write = _write_postgres if warehouse.dialect == "postgresql" else _write_sqlite
    write(warehouse, batch, counted)
    return counted.rows


# --- PostgreSQL: ADBC (binary COPY both ways, Arrow in between) -----------------------------


def _write_postgres(warehouse: Warehouse, batch: dict[str, Any], batches: Counted) -> None:
    import adbc_driver_postgresql.dbapi as adbc
    import pyarrow as pa

    key = (batch["sample_date"], batch["model_name"], batch["model_version"])
    where = "sample_date = $1 AND model_name = $2 AND model_version = $3"
    with adbc.connect(warehouse.libpq_uri) as conn:
        try:
            with conn.cursor() as cur:
                # two runs writing the same day and version take turns (the second replaces the first)
                cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", (f"predictions/{'/'.join(map(str, key))}",)
                )
                cur.fetchall()
                cur.execute(f"DELETE FROM predictions WHERE {where}", key)
                reader = pa.RecordBatchReader.from_batches(prediction_schema(), iter(batches))
                try:
                    cur.adbc_ingest("predictions", reader, mode="append")
                except Exception:
                    # the driver reports an error in the stream as its own: raise the original
                    if batches.error is not None:
                        raise batches.error from None
                    raise
                cur.execute(f"DELETE FROM prediction_batches WHERE {where}", key)
                values = batch | {"row_count": batches.rows}
                names = list(values)
                cur.execute(
                    f"INSERT INTO prediction_batches ({quoted(names)}) "
                    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(names)))})",
                    tuple(values.values()),
                )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


# --- SQLite: a server-side cursor in, executemany out ------------------------------------------


def _write_sqlite(warehouse: Warehouse, batch: dict[str, Any], batches: Counted) -> None:
    day, equals = (
        batch["sample_date"],
        {"model_name": batch["model_name"], "model_version": batch["model_version"]},
    )
    with warehouse.transaction() as tx:
        tx.delete_partition(predictions, day, **equals)
        for record_batch in batches:
            tx.insert(predictions, record_batch.to_pandas(date_as_object=True))
        row = pd.DataFrame([batch | {"row_count": batches.rows}])
        tx.replace_partition(prediction_batches, day, row, **equals)
