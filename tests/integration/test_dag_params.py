"""Every default a run may change is declared once, in the library's spec: the DAGs' forms take
theirs from it (``sluice.specs``), and where a form still writes a Param of its own under a spec
field's name, its default must be the spec's."""

from __future__ import annotations

import datetime as dt
from dataclasses import MISSING, fields

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("dag_id", "spec_name", "names"),
    [
        (
            "sluice_monitor",
            "Thresholds",
            {
                "drift_share",
                "prediction_drift",
                "accuracy_drop",
                "estimated_accuracy_drop",
                "estimate_error",
                "quarantine_rate",
                "cooldown_days",
                "retry_days",
            },
        ),
        (
            "sluice_train",
            "TrainingSpec",
            {
                "window_days",
                "holdout_days",
                "families",
                "budget",
                "cv_folds",
                "seed",
                "selection_metric",
                "importance_rows",
            },
        ),
        ("sluice_monitor", "Windows", {"sample_rows", "window_days", "min_labelled_days"}),
        ("sluice_evaluate", "Policy", {"primary_metric", "margin", "confidence", "slice_tolerance"}),
    ],
)
def test_a_form_is_its_spec(dagbag, dag_id, spec_name, names):
    """Each knob of the spec is a Param of the DAG with the spec's default, title, description,
    bounds and choices (the domain's word filled in), and the spec builds with those defaults."""
    from sluice import alerting, specs
    from sluice.domain import active

    known = {
        "Thresholds": alerting.Thresholds,
        "Windows": alerting.Windows,
        "TrainingSpec": specs.TrainingSpec,
        "Policy": specs.Policy,
    }
    spec = known[spec_name]
    entity = active().entity_title
    words = {"entity": entity, "Entity": entity.capitalize()}
    params = dagbag.dags[dag_id].params
    declared = specs.knobs(spec)
    assert set(declared) == names
    for name, (default, about) in declared.items():
        param = params.get_param(name)
        expected = list(default) if isinstance(default, tuple) else default
        assert param.value == expected, name
        assert param.description == about["description"].format(**words), name
        assert param.schema["title"] == about["title"].format(**words), name
        for key in ("minimum", "maximum"):
            assert param.schema.get(key) == about[key], (name, key)
        choices = about["choices"]
        allowed = param.schema.get("enum") or param.schema.get("items", {}).get("enum")
        assert allowed == (list(choices) if choices else None), name
    made = spec(as_of=dt.date(2026, 1, 1)) if spec is specs.TrainingSpec else spec()
    for name, (default, _) in declared.items():
        assert getattr(made, name) == default, name


def test_the_monitor_runs_at_the_readme_threshold(dagbag):
    params = dagbag.dags["sluice_monitor"].params
    assert params.get_param("drift_share").value == 0.1, "the threshold the README and the demo run at"


def test_a_param_named_after_a_spec_field_outside_its_knobs_has_the_spec_default(dagbag):
    """Params the spec does not generate (the evaluation's hold-out, the label cut-off) keep the
    spec's default where they share a field's name, or say None (a setting decides)."""
    from sluice.specs import TrainingSpec

    compared = []
    for dag_id in ("sluice_train", "sluice_evaluate"):
        params = dagbag.dags[dag_id].params
        for name in params:
            field = next((f for f in fields(TrainingSpec) if f.name == name), None)
            param = params.get_param(name)
            if field is None or field.default is MISSING or param.value is None:
                continue  # None: the run takes a setting's value (e.g. the domain's label delay)
            default = list(field.default) if isinstance(field.default, tuple) else field.default
            assert param.value == default, f"{dag_id}.{name} vs TrainingSpec.{field.name}"
            compared.append(f"{dag_id}.{name}")
    assert "sluice_evaluate.holdout_days" in compared, compared


def test_a_param_without_a_spec_has_the_library_default(dagbag):
    """Defaults the library declares as constants, not as a spec's knobs."""
    from sluice.scoring import DEFAULT_CHUNK_SIZE

    assert dagbag.dags["sluice_score"].params.get_param("chunk_size").value == DEFAULT_CHUNK_SIZE
