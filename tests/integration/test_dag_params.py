"""Every default a run may change is declared once, in the library's spec: the DAGs' forms take
theirs from it (``sluice.specs``), and where a form still writes a Param of its own under a spec
field's name, its default must be the spec's."""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

pytestmark = pytest.mark.integration


def test_the_monitor_form_is_the_thresholds_spec(dagbag):
    from sluice.alerting import Thresholds
    from sluice.specs import knobs

    params = dagbag.dags["sluice_monitor"].params
    declared = knobs(Thresholds)
    assert set(declared) == {
        "drift_share",
        "prediction_drift",
        "accuracy_drop",
        "quarantine_rate",
        "cooldown_days",
    }
    for name, (default, about) in declared.items():
        param = params.get_param(name)
        assert param.value == default == getattr(Thresholds(), name), name
        assert param.description == about["description"], name
        for key in ("title", "minimum", "maximum"):
            assert param.schema.get(key) == about[key], (name, key)
    assert params.get_param("drift_share").value == 0.1, "the threshold the README and the demo run at"


@pytest.mark.parametrize(
    ("dag_id", "specs"),
    [("sluice_train", ("TrainingSpec",)), ("sluice_evaluate", ("Policy", "TrainingSpec"))],
)
def test_a_param_named_after_a_spec_field_has_the_spec_default(dagbag, dag_id, specs):
    from sluice import evaluation, training

    known = {"TrainingSpec": training.TrainingSpec, "Policy": evaluation.Policy}
    aliases = {"primary_metric": "primary"}
    params = dagbag.dags[dag_id].params
    compared = []
    for name in params:
        for spec in (known[s] for s in specs):
            field = next((f for f in fields(spec) if f.name == aliases.get(name, name)), None)
            param = params.get_param(name)
            if field is None or field.default is MISSING or param.value is None:
                continue  # None: the run takes a setting's value (e.g. the domain's label delay)
            default = list(field.default) if isinstance(field.default, tuple) else field.default
            assert param.value == default, f"{dag_id}.{name} vs {spec.__name__}.{field.name}"
            compared.append(name)
    assert len(compared) >= 3, compared
