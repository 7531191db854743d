"""Run Great Expectations suites on a batch and decide what may be published.

Results are stored in a GX File data context under the state folder and rendered as static Data
Docs; each run of a batch has a fixed run id (the batch id and the run's time), so a re-run
overwrites its own page instead of adding one.

What a failed expectation means for the batch is :mod:`sluice.verdict`.

A batch is validated with its index as the row's number in the delivery: Sluice adds no column to
what was delivered, so no delivered column can take the place of one of Sluice's.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

# GX would otherwise try to send usage statistics to the internet on every run.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from sluice.verdict import Failure, jsonable

if TYPE_CHECKING:
    from collections.abc import Iterator

    import great_expectations as gx
    import pandas as pd

EXAMPLES = 5
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "partial_unexpected_count": EXAMPLES,
    "return_unexpected_index_query": False,
}
DOCS_SECTIONS = {
    # a validation renders its own page without walking every stored result (sluice.data_docs)
    "validations": {"class_name": "NamedResultsSectionBuilder", "module_name": "sluice.data_docs"},
    # Sluice runs no profiler: GX's profiling section would walk every stored result for nothing
    "profiling": "0",
}


@dataclass(frozen=True)
class Finding:
    """What one check found on one batch, or on one slice of a day, kept whether it held or not: a
    day validated in slices is judged on its slices' findings combined (:mod:`sluice.slicing`).

    ``failure`` is the check's result in the words of a failure; its ``examples`` and ``where``
    belong to its first ``row_numbers``, in order. ``key`` orders findings as the one-batch path
    reports them (stage, then place in the stage)."""

    failure: Failure
    success: bool
    key: tuple[int, int]
    rows: int = 0
    """The rows of the batch (or slice) the check ran on."""
    element_count: int | None = None
    missing_count: int | None = None
    """A map expectation's counts (GX's ``element_count``, ``missing_count``); None otherwise."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    """The bounds a combined result is judged by again: ``mostly``, ``min_value``, ``max_value``."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "failure": asdict(self.failure),
                "success": self.success,
                "key": list(self.key),
                "rows": self.rows,
                "element_count": self.element_count,
                "missing_count": self.missing_count,
                "kwargs": dict(self.kwargs),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        failure = dict(data["failure"])
        for name in ("examples", "row_numbers", "where"):
            failure[name] = tuple(failure.get(name) or ())
        return cls(
            failure=Failure(**failure),
            success=bool(data["success"]),
            key=(int(data["key"][0]), int(data["key"][1])),
            rows=int(data["rows"]),
            element_count=data.get("element_count"),
            missing_count=data.get("missing_count"),
            kwargs=dict(data.get("kwargs") or {}),
        )


BOUNDS = ("mostly", "min_value", "max_value")


def _findings(suite: str, validation: Any, stage: int, rows: int) -> list[Finding]:
    findings = []
    for position, result in enumerate(validation.results):
        config = result.expectation_config
        kwargs = config.kwargs
        info = result.exception_info or {}
        meta = config.meta or {}
        detail = result.result or {}
        # pandas batches: the frame's index; SQL batches name a column (``unexpected_index_column_names``)
        numbers = tuple(
            int(r["row_number"]) if isinstance(r, dict) else int(r)
            for r in detail.get("unexpected_index_list") or []
            if not isinstance(r, dict) or "row_number" in r
        )
        examples = tuple(detail.get("partial_unexpected_list") or [])[:EXAMPLES]
        error = info.get("exception_message") if info.get("raised_exception") else None
        failure = Failure(
            suite=suite,
            expectation=config.type,
            column=kwargs.get("column"),
            scope=meta.get("scope", "batch"),
            why=meta.get("why", ""),
            unexpected_count=detail.get("unexpected_count"),
            unexpected_percent=detail.get("unexpected_percent"),
            observed=detail.get("observed_value"),
            details=error or detail.get("details"),
            examples=examples,
            row_numbers=numbers,
        )
        findings.append(
            Finding(
                failure=failure,
                success=bool(result.success),
                key=(stage, position),
                rows=rows,
                element_count=detail.get("element_count"),
                missing_count=detail.get("missing_count"),
                kwargs={k: jsonable(kwargs[k]) for k in BOUNDS if kwargs.get(k) is not None},
            )
        )
    return findings


class GXRunner:
    """Runs suites against pandas batches through a GX File data context under ``root``.

    Several task processes share the context (a backfill runs days side by side). What they write
    in common (the suites, validation definitions and checkpoints in the stores, the Data Docs
    site's static files) is written under a file lock, and only when it changed: a suite is
    stored again only when its declaration differs from what was stored (a fingerprint beside the
    stores). The validation itself runs outside the lock; its result is a file of its own. Each
    validation renders its own Data Docs page only, without listing the stored results (GX's own
    section builder walks them all, :mod:`sluice.data_docs`); the site's index, which lists every result
    and grows with history, is rebuilt by :meth:`build_index` (the monitor once a day, the view when
    the index is opened after new validations, ``sluice data-docs``).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._context: gx.data_context.FileDataContext | None = None
        self._checkpoints: dict[str, tuple[str, gx.Checkpoint]] = {}  # suite → (fingerprint, checkpoint)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def context(self) -> gx.data_context.FileDataContext:
        if self._context is None:
            with self._locked():
                self._load()
        return self._context

    def _load(self) -> gx.data_context.FileDataContext:
        """Read the context from disk; the caller holds the lock. Another process may have added
        data assets, suites or checkpoints since this one last read it, and a context that writes
        its configuration from a stale copy would drop them."""
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        # GX fingerprints an in-memory batch under 1 GB by hashing every value, for a
        # "pandas_data_fingerprint" in the result's metadata that nothing reads (Sluice names a
        # batch by its delivery's hashes); at 1M rows that is seconds per suite. GX's own cut-off
        # for larger batches, set to 0, turns it off.
        pandas_execution_engine.HASH_THRESHOLD = 0

        context = gx.get_context(mode="file", project_root_dir=self.root)
        sites = context.variables.data_docs_sites or {}
        local = sites.get("local_site")
        changed = local is not None and local.get("site_section_builders") != DOCS_SECTIONS
        if changed:
            local["site_section_builders"] = DOCS_SECTIONS
            context.variables.data_docs_sites = sites
        if context.variables.progress_bars != ProgressBarsConfig(globally=False):
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            changed = True
        if changed:
            context.variables.save()
        if "sluice" not in context.data_sources.all():
            context.data_sources.add_or_update_pandas("sluice")
        self._context = context
        return context

    def data_docs_index(self) -> Path:
        return self.root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    def build_index(self) -> Path:
        """Rebuild the Data Docs index page (every stored result is listed); returns its path."""
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        with self._locked():
            context = self._load()
            # the suites' own pages with it (a handful); an empty list would rebuild every page
            suites = [ExpectationSuiteIdentifier(name=suite.name) for suite in context.suites.all()]
            context.build_data_docs(resource_identifiers=suites or None, build_index=True)
        return self.data_docs_index()

    def _checkpoint(self, suite: gx.ExpectationSuite) -> gx.Checkpoint:
        """The suite's checkpoint, stored again only when the suite's declaration changed.

        A runner that validates one suite many times (a day's pieces) keeps the checkpoint it
        got while the stored declaration is still its own: reading the context again for each
        piece left a context behind each time (97 MB over a 10M-row day's 40 features pieces)."""
        import hashlib

        import great_expectations as gx
        from great_expectations.exceptions import DataContextError

        fingerprint = hashlib.sha256(
            json.dumps([suite.to_json_dict(), RESULT_FORMAT], sort_keys=True, default=str).encode()
        ).hexdigest()
        marker = self.root / "sluice-suites" / f"{suite.name}.sha256"
        kept = self._checkpoints.get(suite.name)
        with self._locked():
            current = marker.is_file() and marker.read_text() == fingerprint
            if current and kept is not None and kept[0] == fingerprint:
                return kept[1]
            context = self._load()
            if current:
                try:
                    checkpoint = context.checkpoints.get(suite.name)
                    self._checkpoints[suite.name] = (fingerprint, checkpoint)
                    return checkpoint
                except DataContextError:
                    pass  # the stores were cleared: store it again
            source = context.data_sources.get("sluice")
            # get_asset, not a walk of source.assets: it ties the asset to this context's data
            # source (a suite stored again by a process's second context failed without it)
            known = suite.name in source.get_asset_names()
            asset = source.get_asset(suite.name) if known else source.add_dataframe_asset(suite.name)
            batch = next((b for b in asset.batch_definitions if b.name == "whole"), None)
            batch = batch or asset.add_batch_definition_whole_dataframe("whole")
            stored = context.suites.add_or_update(suite)
            definition = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite.name, data=batch, suite=stored)
            )
            checkpoint = context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=suite.name,
                    validation_definitions=[definition],
                    actions=[],  # Data Docs: this result's page only, built below
                    result_format=RESULT_FORMAT,
                )
            )
            marker.parent.mkdir(exist_ok=True)
            marker.write_text(fingerprint)
            self._checkpoints[suite.name] = (fingerprint, checkpoint)
        return checkpoint

    def validate(
        self,
        suite: gx.ExpectationSuite,
        frame: pd.DataFrame,
        *,
        run_name: str,
        run_time: dt.datetime,
        parameters: Mapping[str, Any] | None = None,
    ) -> tuple[list[Failure], str | None]:
        """Validate ``frame`` against ``suite``; failing rows are named by ``frame``'s index."""
        findings, url = self.findings(
            suite, frame, run_name=run_name, run_time=run_time, parameters=parameters
        )
        return [f.failure for f in findings if not f.success], url

    def findings(
        self,
        suite: gx.ExpectationSuite,
        frame: pd.DataFrame,
        *,
        run_name: str,
        run_time: dt.datetime,
        parameters: Mapping[str, Any] | None = None,
        stage: int = 0,
    ) -> tuple[list[Finding], str | None]:
        """What every expectation of ``suite`` found on ``frame`` (held or not), keyed
        ``(stage, place in the suite)``, and the result's Data Docs page."""
        from great_expectations.core.run_identifier import RunIdentifier

        checkpoint = self._checkpoint(suite)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=dict(parameters or {}),
            run_id=RunIdentifier(run_name=run_name, run_time=run_time),
        )
        identifiers = list(result.run_results)
        with self._locked():
            self.context.build_data_docs(resource_identifiers=identifiers, build_index=False)
        findings: list[Finding] = []
        url = None
        for identifier, validation in result.run_results.items():
            findings += _findings(suite.name, validation, stage, len(frame))
            sites = self.context.get_docs_sites_urls(resource_identifier=identifier)
            url = sites[0]["site_url"] if sites else None
        return findings, url
