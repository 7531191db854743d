"""The domain contract: everything that belongs to the data, and nothing that belongs to the lifecycle.

A domain is one Python module (or package) that defines ``DOMAIN = Domain(...)``. It is chosen by
one setting, ``SLUICE_DOMAIN`` (a dotted module path, default ``sluice.domains.water``), the same
in every process: DAGs, the view, the CLI, ``make up``, ``make demo``. A module outside this
repository works as long as it is importable (on ``PYTHONPATH``).

A domain declares:

* **columns** — what a source delivers for one day, each with a *role*: the identifier (``ID``), the
  event time (``EVENT_TIME``), the *entity* key (``ENTITY``: whose history the history features
  aggregate, and the segments champion/challenger compares on), numeric inputs (``NUMERIC``),
  categorical inputs (``CATEGORICAL``), columns kept and checked but never model inputs (``INFO``:
  e.g. what is only known after the event), and the label (``LABEL``: delivered later, in the
  labels feed). Ranges, allowed categories and tolerated null shares become default expectations.
* **the label** — its column, what class 1 and class 0 mean in words, how many days after the
  event it arrives.
* **features** — row features computed from each sample alone and entity-history aggregates over
  the days *before* the sample's day, with a feature-set version.
* **expectations** — the domain's own GX expectations, beside the defaults generated from the
  columns.
* **sources** — where a day comes from (the landing folder works for every domain), the model's
  registered name, display names.

Nothing here imports pandas, Great Expectations or scikit-learn at module level: a domain module
is declarations, light to import (the dag-processor imports it while parsing).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from sluice.errors import SluiceError

if TYPE_CHECKING:
    import great_expectations.expectations as gxe
    import pandas as pd

    from sluice.settings import Settings
    from sluice.sources import Source

DEFAULT_DOMAIN = "sluice.domains.water"

# roles
ID, EVENT_TIME, ENTITY, NUMERIC, CATEGORICAL, INFO, LABEL = (
    "id",
    "event_time",
    "entity",
    "numeric",
    "categorical",
    "info",
    "label",
)
ROLES = (ID, EVENT_TIME, ENTITY, NUMERIC, CATEGORICAL, INFO, LABEL)
SINGLE_ROLES = (ID, EVENT_TIME, ENTITY, LABEL)
"""Roles exactly one column has."""

# types
TEXT, FLOAT, INTEGER, TIMESTAMP = "text", "float", "integer", "timestamp"
TYPES = (TEXT, FLOAT, INTEGER, TIMESTAMP)
ROLE_TYPES: Mapping[str, tuple[str, ...]] = {
    ID: (TEXT,),
    EVENT_TIME: (TIMESTAMP,),
    ENTITY: (TEXT,),
    NUMERIC: (FLOAT, INTEGER),
    CATEGORICAL: (TEXT,),
    INFO: TYPES,
    LABEL: (INTEGER,),
}
DEFAULT_TYPE = {
    ID: TEXT,
    EVENT_TIME: TIMESTAMP,
    ENTITY: TEXT,
    NUMERIC: FLOAT,
    CATEGORICAL: TEXT,
    INFO: TEXT,
    LABEL: INTEGER,
}

# aggregations of the entity history
COUNT, MEAN = "count", "mean"
HOW = (COUNT, MEAN)
LABEL_RATE = "@label"
"""``Aggregate(of=LABEL_RATE, how=MEAN)``: the share of class 1 among the labels known by then."""

# The lifecycle's own column names beside the domain's: a delivered column may not take one of the
# first set (raw_observations, observations), a feature none of the second (features).
RESERVED = frozenset(
    {
        "sample_date",
        "batch_id",
        "row_number",
        "extra",
        "source_file",
        "source_row",
        "defect",
        "slice_key",
        "ingested_at",
        "published_at",
        "labelled_at",
    }
)
RESERVED_FEATURES = frozenset(
    {"sample_date", "sample_id", "entity", "sampled_at", "feature_version", "built_at", "row_number", "label"}
)


MAX_LENGTH: Mapping[str, int] = {ID: 256, ENTITY: 256, CATEGORICAL: 256}
"""The default length bound of the keys (indexed: PostgreSQL refuses an index entry over ~2.7 kB,
which 256 characters of UTF-8 cannot reach) and of categories."""
MAX_TEXT_LENGTH = 10_000
"""The default length bound of any other text column."""


class DomainError(SluiceError, ValueError):
    """A domain module cannot be used; the message names the module and what is wrong."""


@dataclass(frozen=True)
class Column:
    """One delivered column.

    ``range`` bounds a numeric column (either end may be None); ``categories`` is the allowed set
    of a text column (None: any value); ``max_null_share`` the largest tolerated share of missing
    values in a day (the identifier, event time and entity are never missing). ``input`` makes the
    entity key a categorical model input as well. ``max_length`` bounds a text column's values in
    characters (default :data:`MAX_LENGTH` by role: keys are indexed, and an index entry has a size
    limit on PostgreSQL).
    """

    name: str
    role: str
    type: str | None = None
    range: tuple[float | None, float | None] | None = None
    categories: tuple[str, ...] | None = None
    max_null_share: float = 0.0
    input: bool = False
    description: str = ""
    max_length: int | None = None

    @property
    def dtype(self) -> str:
        return self.type or DEFAULT_TYPE.get(self.role, TEXT)

    @property
    def length_limit(self) -> int:
        """The longest value a text column takes, in characters."""
        return self.max_length or MAX_LENGTH.get(self.role, MAX_TEXT_LENGTH)


@dataclass(frozen=True)
class Label:
    """The outcome: ``column`` (a declared ``LABEL`` column), what class 1 and 0 mean in words, and how
    many days after the event it arrives."""

    column: str
    positive: str
    negative: str
    delay_days: int = 1


@dataclass(frozen=True)
class Derived:
    """A row feature: ``compute(rows)`` gives one value per sample from that sample's own typed
    values (a pandas Series aligned with ``rows``). ``range`` and ``not_null`` become expectations
    on the features."""

    name: str
    compute: Callable[[pd.DataFrame], pd.Series]
    kind: str = NUMERIC
    range: tuple[float | None, float | None] | None = None
    not_null: bool = False
    description: str = ""


@dataclass(frozen=True)
class Aggregate:
    """An entity-history feature: ``how`` (count or mean) of ``of`` (a numeric column, or
    :data:`LABEL_RATE`) over the samples of the ``history_days`` days before the sample's day that
    share its values of ``by`` (default: the entity key). Label rates only count labels that had
    arrived by the day before. A count without history is 0, a mean is missing."""

    name: str
    how: str
    of: str | None = None
    by: tuple[str, ...] = ()
    range: tuple[float | None, float | None] | None = None
    description: str = ""


@dataclass(frozen=True)
class FeatureSet:
    """The features: inputs (the numeric and categorical columns, as published), then ``derived``,
    then ``history``, in that order. Bump ``version`` whenever a definition changes."""

    version: str
    derived: tuple[Derived, ...] = ()
    history: tuple[Aggregate, ...] = ()
    history_days: int = 7


SourceFactory = Callable[["Settings", "Domain"], "Source"]
ExpectationHook = Callable[[], "Sequence[gxe.Expectation]"]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per loaded module
class Domain:
    """Everything Sluice needs to know about one kind of data (see the module docstring)."""

    name: str
    title: str
    columns: tuple[Column, ...]
    label: Label
    features: FeatureSet
    model_name: str
    entity_title: str = "entity"
    description: str = ""
    sources: Mapping[str, SourceFactory] = field(default_factory=dict)
    delivered_expectations: ExpectationHook | None = None
    """The domain's own expectations on a delivered day as text (beside the generated ones)."""
    value_expectations: ExpectationHook | None = None
    """The domain's own expectations on a delivered day once typed."""
    max_rows_per_day: int = 20_000_000
    timezone: str = "UTC"
    """Where the domain's days begin and end (an IANA name): a day's deliveries hold the events of
    that local day."""
    module: str = ""

    # --- views of the declaration ---

    def role(self, role: str) -> list[Column]:
        return [c for c in self.columns if c.role == role]

    def _one(self, role: str) -> Column:
        return self.role(role)[0]

    @property
    def id(self) -> str:
        return self._one(ID).name

    @property
    def event_time(self) -> str:
        return self._one(EVENT_TIME).name

    @property
    def entity(self) -> str:
        return self._one(ENTITY).name

    @property
    def delivered(self) -> tuple[Column, ...]:
        """The columns of an observations delivery, in order (the label comes in its own feed)."""
        return tuple(c for c in self.columns if c.role != LABEL)

    @property
    def delivered_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.delivered)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.role == NUMERIC)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Categorical inputs: the CATEGORICAL columns, and the entity key when it is an input."""
        return tuple(c.name for c in self.columns if c.role == CATEGORICAL or (c.role == ENTITY and c.input))

    @property
    def label_columns(self) -> tuple[str, str, str]:
        """What a labels delivery holds: the identifier, the label, when it was labelled."""
        return (self.id, self.label.column, "labelled_at")

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise DomainError(f"domain {self.name!r} declares no column {name!r}")

    @property
    def inputs(self) -> tuple[str, ...]:
        """Columns passed through to the features unchanged: numeric, then categorical."""
        return self.numeric + self.categorical

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's inputs, in order."""
        fs = self.features
        return self.inputs + tuple(d.name for d in fs.derived) + tuple(a.name for a in fs.history)

    @property
    def categorical_features(self) -> tuple[str, ...]:
        return self.categorical + tuple(d.name for d in self.features.derived if d.kind == CATEGORICAL)

    @property
    def numeric_features(self) -> tuple[str, ...]:
        cats = set(self.categorical_features)
        return tuple(f for f in self.feature_names if f not in cats)

    @property
    def row_features(self) -> tuple[str, ...]:
        """Features computed from each sample alone (inputs and derived), not from history."""
        return self.inputs + tuple(d.name for d in self.features.derived)

    @property
    def fingerprint(self) -> str:
        """What the warehouse's tables depend on: the domain, its columns with roles and types, the
        feature set's names, kinds and version. Ranges, categories and words may change freely."""
        doc = {
            "domain": self.name,
            "columns": [[c.name, c.role, c.dtype, c.input] for c in self.columns],
            "timezone": self.timezone,
            "features": [[f, f in self.categorical_features] for f in self.feature_names],
            "feature_version": self.features.version,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def model_description(self) -> str:
        """What the registered model is, in the domain's words."""
        return f"{self.title} (Sluice): P({self.label.positive}) per sample"

    def source_names(self) -> tuple[str, ...]:
        return (*self.sources, "landing")

    # --- checks ---

    def problems(self) -> list[str]:
        """Everything wrong with the declaration, in words (empty when it is usable)."""
        from sluice.declaration import problems

        return problems(self)

    def check(self) -> Domain:
        problems = self.problems()
        if problems:
            where = self.module or self.name
            raise DomainError(f"domain {where}: " + "; ".join(problems))
        return self


def load(path: str) -> Domain:
    """Import the domain module ``path`` and return its checked ``DOMAIN``; every problem is raised as
    one :class:`DomainError` naming the module."""
    try:
        module = importlib.import_module(path)
    except Exception as exc:  # an import error of any kind is a broken domain
        raise DomainError(
            f"SLUICE_DOMAIN={path!r} cannot be imported ({type(exc).__name__}: {exc}); a domain is a "
            "module on PYTHONPATH that defines DOMAIN = sluice.domain.Domain(...)"
        ) from exc
    domain = getattr(module, "DOMAIN", None)
    if not isinstance(domain, Domain):
        raise DomainError(
            f"domain module {path!r} defines no DOMAIN = sluice.domain.Domain(...) "
            f"(found {type(domain).__name__})"
        )
    if domain.module != path:
        object.__setattr__(domain, "module", path)
    return domain.check()


@cache
def load_cached(path: str) -> Domain:
    """:func:`load`, once per process and path."""
    return load(path)


def active(env: Mapping[str, str] | None = None) -> Domain:
    """The domain ``SLUICE_DOMAIN`` names (loaded once per process and path)."""
    env = os.environ if env is None else env
    return load_cached(env.get("SLUICE_DOMAIN") or DEFAULT_DOMAIN)


def describe(domain: Domain) -> dict[str, Any]:
    """The declaration as JSON-ready data (recorded in the warehouse, shown by ``sluice domain``)."""
    return {
        "domain": domain.name,
        "module": domain.module,
        "fingerprint": domain.fingerprint,
        "feature_version": domain.features.version,
        "columns": [{"name": c.name, "role": c.role, "type": c.dtype} for c in domain.columns],
        "timezone": domain.timezone,
        "features": list(domain.feature_names),
        "categorical_features": list(domain.categorical_features),
        "label": {"column": domain.label.column, "positive": domain.label.positive},
        "model_name": domain.model_name,
    }
