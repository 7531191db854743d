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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sluice import dashboard, offline
from sluice.view_config import DEFAULT_DAYS, ViewConfig
from sluice.view_data import (
    drift_charts,
    drift_data,
    history_chart,
    metrics_text,
    overview_data,
    page_range,
    quality_chart,
    quality_data,
)
from sluice.web_models import Decision, Drift, Overview, Quality

TEMPLATES = Path(__file__).resolve().parent / "templates"
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#1f77b4" '
    'stroke-width="2" stroke-linecap="round"><path d="M3 7h18M3 12h18M3 17h18"/>'
    '<path d="M8 4v16M16 4v16" stroke="#555"/></svg>'
)
"""A sluice gate: water lines behind two posts."""


# --- the app -----------------------------------------------------------------------------------


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

    @app.exception_handler(_NeedsLogin)
    async def _login(request: Request, _: _NeedsLogin) -> Response:
        return RedirectResponse(config.login_url(_back_to(request, config)), status_code=303)

    _public(app)
    _metrics(app, config, authenticate)
    app.include_router(_pages(config, page_auth))
    app.include_router(_files(config, page_auth))
    app.include_router(_api(config, api_auth))
    _api_docs(app, page_auth, api_auth)
    return app


def _public(app: FastAPI) -> None:
    """The security headers of every response, and the static files anyone may load."""

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


def _metrics(app: FastAPI, config: ViewConfig, authenticate: Authenticate) -> None:
    """``/metrics``: for a user, or for a scraper holding ``metrics_token``."""

    async def metrics_auth(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if config.metrics_token and hmac.compare_digest(header, f"Bearer {config.metrics_token}"):
            return
        await authenticate(request)

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
        data = drift_data(config, store, *page_range(config, store, days))
        return render(request, "drift.html", data=data, charts=drift_charts(data), days=days)

    @pages.get("/quality", response_class=HTMLResponse)
    def quality_page(request: Request, days: int = Query(DEFAULT_DAYS, ge=1, le=3650)) -> HTMLResponse:
        store = config.warehouse()
        data = quality_data(config, store, *page_range(config, store, days), _base(request))
        return render(request, "quality.html", data=data, chart=quality_chart(data), days=days)

    return pages


def _files(config: ViewConfig, page_auth: Callable[..., Any]) -> APIRouter:
    """The Evidently reports and the GX Data Docs, served from their folders (never a path outside)."""
    files = APIRouter(dependencies=[Depends(page_auth)], include_in_schema=False)

    @files.get("/reports/{day}.html")
    def report(day: dt.date) -> FileResponse:
        root = config.reports_dir.resolve() if config.reports_dir else None
        path = (root / f"{day.isoformat()}.html").resolve() if root else None
        if path is None or not path.is_relative_to(root) or not path.is_file():  # a symlink out: no
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no Evidently report for {day}")
        return FileResponse(path, media_type="text/html")

    @files.get("/data-docs/{path:path}")
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

    return files


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
        return drift_data(config, store, *page_range(config, store, days))

    @api.get("/quality", response_model=Quality, summary="Rows per day, quarantined batches, reports")
    def quality_api(request: Request, days: int = days_query) -> dict:
        store = config.warehouse()
        return quality_data(config, store, *page_range(config, store, days), _base(request))

    return api
