"""What can be wrong with a domain's declaration (:class:`sluice.domain.Domain`), in words: every
problem is found and named before any table is built, so a broken declaration fails once, with
the whole list."""

from __future__ import annotations

from sluice.domain import (
    CATEGORICAL,
    ENTITY,
    FLOAT,
    HOW,
    ID,
    INFO,
    INTEGER,
    LABEL,
    LABEL_RATE,
    MAX_LENGTH,
    MEAN,
    NUMERIC,
    RESERVED,
    RESERVED_FEATURES,
    ROLE_TYPES,
    ROLES,
    SINGLE_ROLES,
    TYPES,
    Column,
    Domain,
    FeatureSet,
    Label,
)


def problems(domain: Domain) -> list[str]:
    """Everything wrong with the declaration, in words (empty when it is usable)."""
    out: list[str] = []
    names = [c.name for c in domain.columns]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"column {dup!r} is declared more than once")
    for c in domain.columns:
        out += _column_problems(c)
    for role in SINGLE_ROLES:
        found = [c.name for c in domain.columns if c.role == role]
        if len(found) > 1:
            out.append(f"role {role!r} is declared twice: {', '.join(found)}")
        elif not found:
            out.append(f"no column has the role {role!r}")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(domain.timezone)
    except Exception:
        out.append(f"timezone {domain.timezone!r} is not an IANA time zone name (e.g. Europe/Paris)")
    if not domain.numeric and not domain.categorical:
        out.append("no model inputs: declare at least one numeric or categorical column")
    label = domain.label
    if not isinstance(label, Label):
        out.append("label must be a sluice.domain.Label")
    else:
        if label.column not in names:
            out.append(f"label column {label.column!r} is missing from the columns")
        elif domain.column(label.column).role != LABEL:
            out.append(f"label column {label.column!r} must have the role {LABEL!r}")
        if label.delay_days < 0:
            out.append(f"label delay_days={label.delay_days} is negative")
        if not label.positive or not label.negative:
            out.append("the label needs words for class 1 (positive) and class 0 (negative)")
    out += _feature_problems(domain, set(names))
    if not domain.model_name or not domain.model_name.replace("_", "").replace("-", "").isalnum():
        out.append(f"model_name {domain.model_name!r}: letters, digits, - and _ only")
    for source in domain.sources:
        if source == "landing":
            out.append("source 'landing' is built in: give the domain's own sources other names")
        elif not callable(domain.sources[source]):
            out.append(f"source {source!r} is not callable (a factory taking settings and the domain)")
    return out


def _feature_problems(domain: Domain, columns: set[str]) -> list[str]:
    fs = domain.features
    out: list[str] = []
    if not isinstance(fs, FeatureSet):
        return ["features must be a sluice.domain.FeatureSet"]
    if not fs.version:
        out.append("the feature set needs a version")
    if fs.history_days < 1:
        out.append(f"features.history_days={fs.history_days} must be at least 1")
    names = list(domain.feature_names)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"feature {dup!r} is declared more than once (or shadows an input column)")
    for name in names:
        if name in RESERVED_FEATURES:
            out.append(
                f"feature {name!r}: the name is reserved by Sluice ({', '.join(sorted(RESERVED_FEATURES))})"
            )
        if not name.isidentifier():
            out.append(f"feature {name!r}: names are Python identifiers")
    for d in fs.derived:
        if not callable(d.compute):
            out.append(f"derived feature {d.name!r}: compute is not callable")
        if d.kind not in (NUMERIC, CATEGORICAL):
            out.append(f"derived feature {d.name!r}: kind is numeric or categorical, not {d.kind!r}")
    numeric = set(domain.numeric)
    for a in fs.history:
        if a.how not in HOW:
            out.append(f"history feature {a.name!r}: how={a.how!r} is not one of {', '.join(HOW)}")
        if a.how == MEAN and a.of != LABEL_RATE and a.of not in numeric:
            out.append(f"history feature {a.name!r}: of={a.of!r} is not a numeric column (or LABEL_RATE)")
        for key in a.by:
            if key not in columns or domain.column(key).role not in (ENTITY, CATEGORICAL):
                out.append(f"history feature {a.name!r}: by={key!r} is not a categorical column")
    return out


def _column_problems(c: Column) -> list[str]:
    """What is wrong with one column's declaration."""
    out: list[str] = []
    if not c.name or not c.name.isidentifier() or c.name != c.name.lower():
        out.append(f"column {c.name!r}: names are lower-case Python identifiers")
    if c.name in RESERVED:
        out.append(f"column {c.name!r}: the name is reserved by Sluice ({', '.join(sorted(RESERVED))})")
    if c.role not in ROLES:
        out.append(f"column {c.name!r}: unknown role {c.role!r} (roles: {', '.join(ROLES)})")
        return out
    if c.dtype not in TYPES:
        out.append(f"column {c.name!r}: unknown type {c.dtype!r} (types: {', '.join(TYPES)})")
    elif c.dtype not in ROLE_TYPES[c.role]:
        allowed = " or ".join(ROLE_TYPES[c.role])
        out.append(f"column {c.name!r}: a {c.role} column is {allowed}, not {c.dtype}")
    if not 0.0 <= c.max_null_share <= 1.0:
        out.append(f"column {c.name!r}: max_null_share={c.max_null_share} is not a share in [0, 1]")
    numeric = c.role == NUMERIC or (c.role == INFO and c.dtype in (FLOAT, INTEGER))
    if c.range is not None and not numeric:
        out.append(f"column {c.name!r}: only numeric columns take a range")
    if c.range is not None and None not in c.range and c.range[0] > c.range[1]:
        out.append(f"column {c.name!r}: range {c.range} is empty")
    if c.max_length is not None and not (
        isinstance(c.max_length, int) and 1 <= c.max_length <= (MAX_LENGTH[ID] if c.role == ID else 10**6)
    ):
        limit = MAX_LENGTH[ID] if c.role == ID else 10**6
        out.append(f"column {c.name!r}: max_length={c.max_length!r} is not a length from 1 to {limit}")
    if c.input and c.role != ENTITY:
        out.append(f"column {c.name!r}: input=True is for the entity key (other inputs have roles)")
    return out
