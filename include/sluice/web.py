"""The Sluice view: HTML pages, the JSON API behind them and ``/metrics``, as one FastAPI app.

``create_app`` takes everything from outside as arguments (how to open the warehouse, how to
authenticate a request, the last DAG runs, the clock), so the app runs the same inside Airflow's
API server (``plugins/sluice_view.py`` passes Airflow's own user check) and in tests. Charts are SVG drawn
here (``sluice.charts``); nothing is loaded from the internet.

Pages and API need an authenticated user (``authenticate``): an API call without one gets 401, a
page redirects to the login. ``/metrics`` (Prometheus) takes the same user, or a bearer
token equal to ``metrics_token`` when one is configured, for a scraper.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from sluice import charts, dashboard, offline
from sluice.domain import Domain
from sluice.monitoring import ACCURACY_DROP, DRIFT_SHARE, PREDICTION_DRIFT, QUARANTINE_RATE
from sluice.warehouse import Warehouse

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_DAYS = 90
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#1f77b4" '
    'stroke-width="2" stroke-linecap="round"><path d="M3 7h18M3 12h18M3 17h18"/>'
    '<path d="M8 4v16M16 4v16" stroke="#555"/></svg>'
)
"""A sluice gate: water lines behind two posts."""
DAG_IDS = (
    "sluice_ingest",
    "sluice_features",
    "sluice_score",
    "sluice_train",
    "sluice_evaluate",
    "sluice_monitor",
)


@dataclass(frozen=True)
class Words:
    """The domain's words the view speaks (``Words.of(domain)``)."""

    domain: str = ""
    title: str = "Sluice"
    positive: str = "class 1"
    negative: str = "class 0"
    entity: str = "entity"

    @classmethod
    def of(cls, domain: Domain) -> Words:
        return cls(
            domain.name, domain.title, domain.label.positive, domain.label.negative, domain.entity_title
        )


@dataclass
class ViewConfig:
    """What the view needs from its deployment."""

    warehouse: Callable[[], Warehouse]
    model_name: str
    today: Callable[[], dt.date]
    """The clock (days since the promotion, the range when the warehouse is empty)."""
    reports_dir: Path | None = None
    data_docs_dir: Path | None = None
    rebuild_data_docs_index: Callable[[], None] | None = None
    """Rebuilds the Data Docs index (in another process: GX is heavy); called when the index is
    opened and a validation page is newer than it (validations write only their own pages)."""
    mlflow_url: str | None = None
    airflow_url: str = ""
    login_url: Callable[[str], str] | None = None
    """The login page's URL that returns to the given URL."""
    public_url: str | None = None
    """Where users reach the API server (Airflow's ``[api] base_url``): the login's way back is
    built from it, never from the request's Host header. None: a path on the same server."""
    metrics_token: str | None = None
    dag_runs: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])
    words: Words = field(default_factory=Words)


# --- API models (the OpenAPI schema documents them) --------------------------------------------


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


class Overview(BaseModel):
    model_name: str
    domain: DomainWords
    champion: Champion | None = Field(description="None until a first promotion")
    dag_runs: list[DagRun] = Field(description="The last run of each Sluice DAG")
    alerts: list[Alert] = Field(description="Alerts of the last 7 monitored days, newest first")
    last_day: DayCounts | None = Field(description="The newest delivered day")


class Decision(BaseModel):
    decision_date: str
    decided_at: str | None
    decision: str = Field(description="promote, reject, forced or rollback")
    status: str = Field(description="pending, applied or aborted")
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
        description="Whole-day figures per metric: drift_share, prediction_drift, accuracy, roc_auc, "
        "quarantine_rate"
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


# --- the app -----------------------------------------------------------------------------------


def _range(config: ViewConfig, store: Warehouse, days: int) -> tuple[dt.date, dt.date]:
    """The ``days`` days up to the newest delivered or monitored day (today when there is none)."""
    last = dashboard.newest_day(store) or config.today()
    return last - dt.timedelta(days=days - 1), last


def _docs_link(url: str | None, config: ViewConfig, base: str) -> str | None:
    """A GX Data Docs ``file://`` URL as a link served by the view (browsers block file:// links).
    A URL outside the Data Docs folder gets no link: the view never shows a path of the machine."""
    if not url or config.data_docs_dir is None:
        return None
    root = config.data_docs_dir.resolve().as_uri().rstrip("/") + "/"
    return f"{base}/data-docs/{url[len(root) :]}" if url.startswith(root) else None


def overview_data(config: ViewConfig, store: Warehouse) -> dict[str, Any]:
    history = dashboard.decisions(store, config.model_name)
    bounds = dashboard.metric_days(store)
    runs = {r["dag_id"]: r for r in config.dag_runs()}
    return {
        "model_name": config.model_name,
        "domain": asdict(config.words),
        "champion": dashboard.champion(history, config.today()),
        "dag_runs": [runs.get(d, {"dag_id": d}) for d in DAG_IDS],
        "alerts": dashboard.recent_alerts(store, bounds[1]) if bounds else [],
        "last_day": dashboard.last_day_counts(store, config.model_name),
    }


def drift_data(config: ViewConfig, store: Warehouse, first: dt.date, last: dt.date) -> dict[str, Any]:
    top = dashboard.top_drifted(store, first, last)
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "series": dashboard.series(store, first, last),
        "top_features": top["features"],
        "feature_scores": top["scores"],
        "champion_changes": dashboard.champion_changes(dashboard.decisions(store, config.model_name)),
    }


def quality_data(
    config: ViewConfig, store: Warehouse, first: dt.date, last: dt.date, base: str
) -> dict[str, Any]:
    batches = dashboard.quarantined(store, first, last)
    for b in batches:
        links = (_docs_link(url, config, base) for url in b["validation_urls"])
        b["validation_urls"] = [link for link in links if link]
        b["validation_url"] = next(iter(b["validation_urls"]), None)
    return {
        "first": first.isoformat(),
        "last": last.isoformat(),
        "days": dashboard.daily_counts(store, config.model_name, first, last),
        "quarantine_rate": dashboard.series(store, first, last)[QUARANTINE_RATE],
        "quarantined": batches,
        "reports": dashboard.reports(config.reports_dir, first, last) if config.reports_dir else [],
    }


def _points(rows: Sequence[dict[str, Any]]) -> list[tuple[dt.date, float | None]]:
    return [(dt.date.fromisoformat(r["day"]), r["value"]) for r in rows]


def _threshold(rows: Sequence[dict[str, Any]], label: str) -> list[charts.Threshold]:
    values = [r["threshold"] for r in rows if r.get("threshold") is not None]
    return [charts.Threshold(values[-1], label)] if values else []


def drift_charts(data: dict[str, Any]) -> list[str]:
    """The drift and performance page's charts, champion changes marked on each."""
    s = data["series"]
    markers = [
        charts.Marker(dt.date.fromisoformat(c["day"]), f"v{c['version']}", "#444")
        for c in data["champion_changes"]
        if c["version"] is not None
    ]
    return [
        charts.line_chart(
            "Data drift: share of features that drifted from the champion's training days",
            [charts.Series("drift share", _points(s[DRIFT_SHARE]))],
            y_label="features drifted",
            unit="%",
            y_range=(0, 1),
            thresholds=_threshold(s[DRIFT_SHARE], "alert above"),
            markers=markers,
        ),
        charts.line_chart(
            "Most drifted features: drift score per day",
            [charts.Series(c, _points(data["feature_scores"][c])) for c in data["top_features"]],
            y_label="drift score",
            markers=markers,
        ),
        charts.line_chart(
            "Prediction drift: the day's scores vs the champion's hold-out scores",
            [charts.Series("prediction drift", _points(s[PREDICTION_DRIFT]))],
            y_label="normed Wasserstein distance",
            thresholds=_threshold(s[PREDICTION_DRIFT], "alert above"),
            markers=markers,
        ),
        charts.line_chart(
            "Performance of the served predictions, by sample day (once lab results are in)",
            [
                charts.Series("accuracy", _points(s["accuracy"])),
                charts.Series("ROC AUC", _points(s["roc_auc"])),
            ],
            y_label="score",
            unit="%",
            y_range=(0.5, 1),
            markers=markers,
            empty="no labelled days yet",
        ),
    ]


def quality_chart(data: dict[str, Any]) -> str:
    """The share of each delivered day that validation held back, against the alert threshold."""
    days = data["days"]
    rates = data.get("quarantine_rate") or []
    return charts.line_chart(
        "Quarantined: share of each delivered day's rows held back by validation",
        [
            charts.Series(
                "quarantined share",
                [
                    (
                        dt.date.fromisoformat(d["day"]),
                        d["quarantined"] / d["delivered"] if d["delivered"] else None,
                    )
                    for d in days
                ],
                charts.ALERT,
            )
        ],
        y_label="rows quarantined",
        unit="%",
        thresholds=_threshold(rates, "alert above"),
        empty="nothing delivered yet",
    )


def history_chart(decisions: Sequence[dict[str, Any]], today: dt.date) -> str:
    """The champion's version over time (a step at each change, held to ``today``), and the
    challengers that were rejected."""
    applied = [d for d in decisions if d["status"] == "applied" and d["champion_after"] is not None]
    rejected = [d for d in decisions if d["decision"] == "reject" and d["challenger_version"] is not None]
    held = [(dt.date.fromisoformat(d["decision_date"]), d["champion_after"]) for d in applied]
    return charts.line_chart(
        "Champion version over time (points: decisions)",
        [
            charts.Series("champion", held, step=True, hold_until=today),
            charts.Series(
                "rejected challenger",
                [(dt.date.fromisoformat(d["decision_date"]), d["challenger_version"]) for d in rejected],
                charts.ALERT,
            ),
        ],
        y_label="model version",
        height=220,
        empty="no decision yet",
    )


def metrics_text(config: ViewConfig, store: Warehouse) -> bytes:
    """Prometheus exposition of the figures an on-call dashboard watches."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

    model = config.model_name
    words = config.words

    class Collector:
        def collect(self):
            info = InfoMetricFamily("sluice_domain", "The domain the deployment serves, in its words")
            info.add_metric(
                [],
                {
                    "domain": words.domain,
                    "title": words.title,
                    "positive": words.positive,
                    "entity": words.entity,
                    "model": model,
                },
            )
            yield info
            history = dashboard.decisions(store, model)
            champ = dashboard.champion(history, config.today())
            version = GaugeMetricFamily("sluice_champion_version", "Champion model version", labels=["model"])
            since = GaugeMetricFamily(
                "sluice_days_since_promotion", "Days since the champion was promoted", labels=["model"]
            )
            if champ:
                version.add_metric([model], champ["version"])
                since.add_metric([model], champ["days_since_promotion"])
            yield version
            yield since
            bounds = dashboard.metric_days(store)
            figures = dashboard.series(store, bounds[0], bounds[1]) if bounds else {}
            for name, help_text in (
                (DRIFT_SHARE, "Share of features drifted on the last monitored day"),
                (PREDICTION_DRIFT, "Prediction drift on the last monitored day"),
                ("accuracy", "Accuracy of the served predictions on the last labelled day"),
                (QUARANTINE_RATE, "Share of the last monitored day's rows quarantined"),
            ):
                gauge = GaugeMetricFamily(f"sluice_last_{name}", help_text, labels=["day"])
                points = [p for p in figures.get(name, []) if p["value"] is not None]
                if points:
                    gauge.add_metric([points[-1]["day"]], points[-1]["value"])
                yield gauge
            last = dashboard.last_day_counts(store, model)
            rows = GaugeMetricFamily(
                "sluice_rows", "Rows of the newest delivered day, by stage", labels=["day", "stage"]
            )
            if last:
                for stage in ("delivered", "published", "quarantined", "scored"):
                    rows.add_metric([last["day"], stage], last[stage])
            yield rows
            alerts = GaugeMetricFamily(
                "sluice_open_alerts", "Alerts of the last 7 monitored days", labels=["metric"]
            )
            found = dashboard.recent_alerts(store, bounds[1]) if bounds else []
            for metric in (DRIFT_SHARE, PREDICTION_DRIFT, ACCURACY_DROP, QUARANTINE_RATE):
                alerts.add_metric([metric], sum(1 for a in found if a["metric"] == metric))
            yield alerts

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry)


class _NeedsLogin(Exception):
    pass


Authenticate = Callable[[Request], Awaitable[Any]]
"""Returns the request's user, or raises ``HTTPException(401)`` (403 for a bad token)."""


def _base(request: Request) -> str:
    """Where the app is mounted (``/sluice`` in Airflow), for links between its pages."""
    return request.scope.get("root_path", "").rstrip("/")


def _back_to(request: Request, config: ViewConfig) -> str:
    """Where the login returns to: this page's path (and query) under the configured public URL,
    or as a path. Not ``request.url``: its host is whatever the request's Host header claimed."""
    path = "/" + (_base(request) + request.url.path.removeprefix(_base(request))).lstrip("/")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{config.public_url.rstrip('/')}{path}{query}" if config.public_url else f"{path}{query}"


SWAGGER_STATIC = "/static-offline-docs"
"""Swagger UI's files (from the fastapi-offline package), public like any static file."""
PAGE_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)
"""Sluice's own pages: no script at all, styles and images from the app."""
FOREIGN_POLICY = "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'"
"""Pages other tools wrote (GX Data Docs, Evidently reports), which may hold delivered values: their
scripts run in an opaque origin, so nothing in them can use the Airflow session of who opens them."""


def _index_is_stale(site: Path) -> bool:
    """A validation page newer than the site's index (or no index yet)."""
    index = site / "index.html"
    if not index.is_file():
        return True
    built = index.stat().st_mtime
    return any(page.stat().st_mtime > built for page in (site / "validations").rglob("*.html"))


def _docs_policy(html: str) -> str:
    """The API docs page's policy: scripts from the app, and its one inline script (Swagger UI's
    set-up) by its hash: nothing else runs."""
    import base64
    import hashlib
    import re

    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" for body in inline
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
        "form-action 'self'"
    )


def _security_headers(path: str) -> dict[str, str]:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "SAMEORIGIN",
        "Referrer-Policy": "same-origin",
    }
    if path.startswith(("/data-docs/", "/reports/")):
        headers["Content-Security-Policy"] = FOREIGN_POLICY
    elif path.startswith("/vendor/"):
        headers["Access-Control-Allow-Origin"] = "*"  # fonts, loaded by sandboxed (opaque-origin) pages
    elif not path.startswith(("/docs", SWAGGER_STATIC)):  # Swagger UI: an inline script
        headers["Content-Security-Policy"] = PAGE_POLICY
    return headers


def create_app(config: ViewConfig, authenticate: Authenticate) -> FastAPI:
    """The view's FastAPI app; every route needs ``authenticate`` to pass, but static files (the
    icon, the files Data Docs and the API docs load)."""
    app = FastAPI(
        title="Sluice",
        description="Model history, drift, performance and data quality of the Sluice deployment; "
        "the JSON API behind the Sluice pages, and Prometheus metrics.",
        version="1",
        docs_url=None,  # the API docs and schema are routes of the app's own, behind the login
        redoc_url=None,
        openapi_url=None,
    )

    async def api_auth(request: Request) -> None:
        await authenticate(request)

    async def page_auth(request: Request) -> None:
        try:
            await authenticate(request)
        except HTTPException as error:
            if error.status_code in (401, 403) and config.login_url:
                raise _NeedsLogin() from error
            raise

    async def metrics_auth(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if config.metrics_token and hmac.compare_digest(header, f"Bearer {config.metrics_token}"):
            return
        await authenticate(request)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[..., Any]) -> Response:
        response = await call_next(request)
        for name, value in _security_headers(request.url.path.removeprefix(_base(request))).items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:  # the navigation's icon: public, like any static asset
        return Response(ICON, media_type="image/svg+xml")

    @app.get("/vendor/{path:path}", include_in_schema=False)
    def vendor(path: str) -> FileResponse:  # third-party static files Data Docs load: public
        target = offline.vendored(path)
        if target is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no vendored file {path!r}")
        return FileResponse(target, headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(_NeedsLogin)
    async def _login(request: Request, _: _NeedsLogin) -> Response:
        return RedirectResponse(config.login_url(_back_to(request, config)), status_code=303)

    @app.get(
        "/metrics",
        dependencies=[Depends(metrics_auth)],
        response_class=Response,
        summary="Prometheus metrics",
        description="Prometheus text exposition. Needs an Airflow user, or the bearer token "
        "SLUICE_METRICS_TOKEN when it is set (for a scraper).",
        tags=["sluice"],
    )
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics_text(config, config.warehouse()), media_type=CONTENT_TYPE_LATEST)

    app.include_router(_pages(config, page_auth))
    app.include_router(_api(config, api_auth))
    _api_docs(app, page_auth, api_auth)
    return app


def _api_docs(app: FastAPI, page_auth: Callable[..., Any], api_auth: Callable[..., Any]) -> None:
    """``/openapi.json`` and ``/docs`` (Swagger UI, its files served by the app from the
    ``fastapi-offline`` package: no CDN), both behind the login like every page."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.mount(SWAGGER_STATIC, StaticFiles(directory=static), name="static-offline-docs")

    @app.get("/openapi.json", dependencies=[Depends(api_auth)], include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", dependencies=[Depends(page_auth)], include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        base = _base(request)
        page = get_swagger_ui_html(
            openapi_url=f"{base}/openapi.json",
            title="Sluice - API",
            swagger_js_url=f"{base}{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{base}{SWAGGER_STATIC}/favicon.png",
        )
        page.headers["Content-Security-Policy"] = _docs_policy(page.body.decode())
        return page


def _pages(config: ViewConfig, page_auth: Callable[..., Any]) -> APIRouter:
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    pages = APIRouter(dependencies=[Depends(page_auth)], include_in_schema=False)

    def render(request: Request, name: str, **values: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            base=_base(request),
            page=name.removesuffix(".html"),
            model_name=config.model_name,
            words=config.words,
            mlflow_url=config.mlflow_url,
            airflow_url=config.airflow_url,
            **values,
        )
        return HTMLResponse(html)

    @pages.get("/", response_class=HTMLResponse)
    def overview_page(request: Request) -> HTMLResponse:
        return render(request, "overview.html", data=overview_data(config, config.warehouse()))

    @pages.get("/history", response_class=HTMLResponse)
    def history_page(request: Request) -> HTMLResponse:
        decisions = dashboard.decisions(config.warehouse(), config.model_name)
        return render(
            request,
            "history.html",
            decisions=list(reversed(decisions)),
            chart=history_chart(decisions, config.today()),
        )

    @pages.get("/drift", response_class=HTMLResponse)
    def drift_page(request: Request, days: int = Query(DEFAULT_DAYS, ge=1, le=3650)) -> HTMLResponse:
        store = config.warehouse()
        data = drift_data(config, store, *_range(config, store, days))
        return render(request, "drift.html", data=data, charts=drift_charts(data), days=days)

    @pages.get("/quality", response_class=HTMLResponse)
    def quality_page(request: Request, days: int = Query(DEFAULT_DAYS, ge=1, le=3650)) -> HTMLResponse:
        store = config.warehouse()
        data = quality_data(config, store, *_range(config, store, days), _base(request))
        return render(request, "quality.html", data=data, chart=quality_chart(data), days=days)

    @pages.get("/reports/{day}.html")
    def report(day: dt.date) -> FileResponse:
        root = config.reports_dir.resolve() if config.reports_dir else None
        path = (root / f"{day.isoformat()}.html").resolve() if root else None
        if path is None or not path.is_relative_to(root) or not path.is_file():  # a symlink out: no
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no Evidently report for {day}")
        return FileResponse(path, media_type="text/html")

    @pages.get("/data-docs/{path:path}")
    def data_docs(request: Request, path: str) -> Response:
        root = config.data_docs_dir.resolve() if config.data_docs_dir else None
        if root and path == "index.html" and config.rebuild_data_docs_index and _index_is_stale(root):
            config.rebuild_data_docs_index()
        target = (root / path).resolve() if root and "\x00" not in path else None
        if target is None or not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no Data Docs page {path!r}")
        if target.suffix == ".html":  # GX's CDN links pointed at the files Sluice ships
            return HTMLResponse(
                offline.localize(
                    target.read_text(), f"{_base(request)}/vendor", f"{_base(request)}/data-docs"
                )
            )
        return FileResponse(target)

    return pages


def _api(config: ViewConfig, api_auth: Callable[..., Any]) -> APIRouter:
    api = APIRouter(prefix="/api", dependencies=[Depends(api_auth)], tags=["sluice"])
    days_query = Query(DEFAULT_DAYS, ge=1, le=3650, description="Days up to the newest")

    @api.get("/overview", response_model=Overview, summary="Champion, last DAG runs, open alerts, newest day")
    def overview_api() -> dict[str, Any]:
        return overview_data(config, config.warehouse())

    @api.get(
        "/decisions",
        response_model=list[Decision],
        summary="Every champion/challenger decision, oldest first",
    )
    def decisions_api() -> list[dict[str, Any]]:
        return dashboard.decisions(config.warehouse(), config.model_name)

    @api.get("/drift", response_model=Drift, summary="Drift and performance per day, champion changes")
    def drift_api(days: int = days_query) -> dict:
        store = config.warehouse()
        return drift_data(config, store, *_range(config, store, days))

    @api.get("/quality", response_model=Quality, summary="Rows per day, quarantined batches, reports")
    def quality_api(request: Request, days: int = days_query) -> dict:
        store = config.warehouse()
        return quality_data(config, store, *_range(config, store, days), _base(request))

    return api
