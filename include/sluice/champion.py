"""The model in service, as monitoring sees it: its training and hold-out days and hold-out
accuracy (the registry tags ``sluice_train`` sets), and its scorer, read from MLflow."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sluice.alerting import MonitoringError
from sluice.modelstore import ModelStore


@dataclass(frozen=True)
class Champion:
    """What monitoring needs to know about the model in service, from its registry tags (which
    the training run set from its own parameters)."""

    model_name: str
    version: int
    train_days: tuple[dt.date, dt.date]
    holdout_days: tuple[dt.date, dt.date]
    holdout_accuracy: float | None
    feature_version: str | None = None

    @classmethod
    def from_tags(cls, model_name: str, version: int, tags: dict[str, str]) -> Champion:
        def day(key: str) -> dt.date:
            value = tags.get(f"sluice.{key}")
            if not value:
                raise MonitoringError(
                    f"{model_name} version {version} has no sluice.{key} tag: monitoring needs the "
                    "training and hold-out days that sluice_train records"
                )
            return dt.date.fromisoformat(value)

        accuracy = tags.get("sluice.holdout_accuracy")
        return cls(
            model_name,
            int(version),
            (day("train_first_day"), day("train_last_day")),
            (day("holdout_first_day"), day("holdout_last_day")),
            float(accuracy) if accuracy else None,
            tags.get("sluice.feature_version"),
        )

    def to_dict(self) -> dict:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "train_days": [d.isoformat() for d in self.train_days],
            "holdout_days": [d.isoformat() for d in self.holdout_days],
            "holdout_accuracy": self.holdout_accuracy,
            "feature_version": self.feature_version,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Champion:
        return cls(
            data["model_name"],
            int(data["version"]),
            tuple(dt.date.fromisoformat(d) for d in data["train_days"]),
            tuple(dt.date.fromisoformat(d) for d in data["holdout_days"]),
            data["holdout_accuracy"],
            data.get("feature_version"),
        )


def champion(store: ModelStore, model_name: str) -> Champion | None:
    """The champion's monitoring facts (MLflow registry), or None when there is no champion."""
    from sluice import registry

    version = registry.alias_version(store, model_name, registry.CHAMPION)
    if version is None:
        return None
    tags = registry.model_version(store, model_name, version).tags
    return Champion.from_tags(model_name, version, dict(tags))


def holdout_accuracy(store: ModelStore, model_name: str, version: int) -> float | None:
    """A version's hold-out accuracy (its ``sluice.holdout_accuracy`` tag)."""
    from sluice import registry

    accuracy = registry.model_version(store, model_name, version).tags.get("sluice.holdout_accuracy")
    return float(accuracy) if accuracy else None


def scorer(store: ModelStore, model: Champion):
    """The champion's ``predict_proba`` for the positive class, loaded once from the registry."""
    from sluice import registry

    fitted = registry.load(store, model.model_name, model.version)
    return lambda frame: fitted.predict_proba(frame)[:, 1]
