"""The JSON API's response models (the OpenAPI schema at ``/docs`` documents them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Champion(BaseModel):
    version: int = Field(description="The registered model version serving as champion")
    decision: str = Field(description="How it became champion: promote, forced or rollback")
    promoted_on: str = Field(description="The as-of day of that decision (YYYY-MM-DD)")
    decided_at: str | None = Field(description="When the decision was taken (UTC)")
    days_since_promotion: int
    holdout_metrics: dict[str, float] = Field(description="Its metrics on the decision's hold-out")
    reason: str


class DagRun(BaseModel):
    dag_id: str
    run_id: str | None = None
    state: str | None = Field(None, description="queued, running, success, failed…; none when never run")
    run_after: str | None = None
    end_date: str | None = None


class Alert(BaseModel):
    day: str = Field(description="Monitored day (performance figures: the sample day)")
    metric: str
    span: str = Field(description="day, or rolling_<N>d")
    value: float | None
    threshold: float | None
    model_version: int | None


class DayCounts(BaseModel):
    day: str
    status: str = Field(description="landed, published, partial or quarantined")
    delivered: int
    published: int
    quarantined: int
    scored: int = Field(description="Rows scored by the version that serves the day")
    scored_by_version: int | None


class DomainWords(BaseModel):
    domain: str = Field(description="The domain's name (SLUICE_DOMAIN's declaration)")
    title: str = Field(description="What the model predicts, in the domain's words")
    positive: str = Field(description="What class 1 means (the score is P(class 1))")
    negative: str = Field(description="What class 0 means")
    entity: str = Field(description="What the entity key is (the history and slice key)")


class Decision(BaseModel):
    decision_date: str
    decided_at: str | None
    decision: str = Field(description="promote, reject, forced or rollback")
    status: str = Field(description="pending, applied, aborted or declined (the approver refused)")
    champion_before: int | None
    challenger_version: int | None
    champion_after: int | None
    primary_metric: str | None
    margin: float | None
    gain: float | None
    ci_low: float | None
    ci_high: float | None
    champion_metrics: dict[str, Any] | None
    challenger_metrics: dict[str, Any] | None
    holdout_first_day: str | None
    holdout_last_day: str | None
    holdout_rows: int | None
    reason: str
    triggered_by: str
    decision_id: str
    approval: str | None = Field(None, description="auto, approved, rejected or timed_out")
    approved_by: str | None = Field(None, description="Who answered the approval")
    approval_reason: str | None = None
    approved_at: str | None = None


class Overview(BaseModel):
    model_name: str
    domain: DomainWords
    champion: Champion | None = Field(description="None until a first promotion")
    dag_runs: list[DagRun] = Field(description="The last run of each Sluice DAG")
    alerts: list[Alert] = Field(description="Alerts of the last 7 monitored days, newest first")
    last_day: DayCounts | None = Field(description="The newest delivered day")
    awaiting: list[Decision] = Field(
        default_factory=list,
        description="Decisions that would change the champion, recorded but not applied yet: "
        "with human approval, waiting for an answer under Airflow's Required Actions",
    )


class Point(BaseModel):
    day: str
    value: float | None
    threshold: float | None = None
    alert: bool = False
    model_version: int | None = None
    sample_size: int | None = None


class ChampionChange(BaseModel):
    day: str
    version: int | None
    decision: str


class Drift(BaseModel):
    first: str | None
    last: str | None
    series: dict[str, list[Point]] = Field(
        description="Whole-day figures per metric: drift_share, prediction_drift, accuracy, roc_auc "
        "(measured once labels are in), estimated_accuracy, estimated_roc_auc (from the scores "
        "alone, before labels), quarantine_rate"
    )
    top_features: list[str] = Field(description="The features flagged on the most days (then by peak score)")
    feature_scores: dict[str, list[Point]] = Field(description="Drift score per day of each top feature")
    champion_changes: list[ChampionChange]


class FailedExpectation(BaseModel):
    expectation: str | None
    column: str | None
    unexpected_count: int | None
    why: str | None
    file: str | None = Field(None, description="The delivered file held back as a file (its problem)")
    where: list[str] = Field([], description="The first failing rows, as file:row")


class QuarantinedBatch(BaseModel):
    day: str
    batch_id: str
    table: str
    scope: str = Field(description="batch (all rows held back) or rows (only the bad rows)")
    reason: str
    rows: int
    quarantined_rows: int
    failed_expectations: list[FailedExpectation]
    validation_url: str | None = Field(
        description="The GX Data Docs page of the first suite that ran (the batch as delivered)"
    )
    validation_urls: list[str] = Field(
        description="The GX Data Docs page of each suite that ran, served by the view"
    )
    quarantined_at: str | None


class Quality(BaseModel):
    first: str | None
    last: str | None
    days: list[DayCounts]
    quarantine_rate: list[Point] = Field(
        description="The monitor's quarantine rate per day, with its threshold"
    )
    quarantined: list[QuarantinedBatch]
    reports: list[str] = Field(description="Days with an Evidently report (newest first)")
