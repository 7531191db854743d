"""One base for the errors Sluice raises on purpose, and what a task does with each kind."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import sluice
from sluice.errors import NotReady, SluiceError
from tests.conftest import REPO


def _library_exceptions() -> list[type[BaseException]]:
    found = []
    for module in pkgutil.walk_packages(sluice.__path__, "sluice."):
        if ".migrations" in module.name:
            continue
        loaded = importlib.import_module(module.name)
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == loaded.__name__:
                found.append(cls)
    return found


def test_every_error_the_library_defines_is_a_sluice_error():
    errors = [e for e in _library_exceptions() if not e.__name__.startswith("_")]  # web's private signal
    assert len(errors) >= 15
    assert [e.__name__ for e in errors if not issubclass(e, SluiceError)] == []
    retried = {e.__name__ for e in errors if e.retry}
    assert retried == {"NotReady", "DeliveryNotReady"}, "only what is not there yet is worth a retry"


def test_a_task_fails_at_once_on_bad_input_and_keeps_its_retries_for_what_may_come(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "dags"))
    from airflow.sdk.exceptions import AirflowFailException

    from sluice.ingest import IngestError
    from sluice.slicing import SlicingError
    from sluice.sources import DeliveryNotReady
    from sluice_common import bad_input_fails_fast

    for error in (IngestError("bad"), SlicingError("cannot")):
        with pytest.raises(AirflowFailException, match=str(error)), bad_input_fails_fast():
            raise error
    for error in (DeliveryNotReady("later"), NotReady("later"), OSError("disk")):
        with pytest.raises(type(error)), bad_input_fails_fast():
            raise error
