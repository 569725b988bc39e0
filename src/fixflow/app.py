"""The ASGI application: routers, error handlers and the in-process worker."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from fixflow import __version__
from fixflow.config import Settings, get_settings
from fixflow.core.db import Database
from fixflow.core.http import JSONResponse, install_problem_handlers
from fixflow.discovery import import_role
from fixflow.features import load_features
from fixflow.jobs.worker import Worker

STATIC_DIR = Path(__file__).resolve().parent / "static"


API_PREFIX = "/api/v1"
SERVER_GC_THRESHOLDS = (700, 50, 100)  # see create_app's lifespan


def feature_routers(*roles: str) -> list[tuple[str, APIRouter]]:
    """The routers of these roles with their role, those a module marks hot (``ROUTE_ORDER`` below
    100) first, across roles.

    FastAPI tries routers in order and every router it passes costs a match of each of its routes
    (twice: to find and to dispatch), so the lists and the ticket profile, in the API and in the app,
    should not wait behind the whole alphabet of features. Routers' paths are disjoint, so order
    changes nothing else.
    """
    found = [(module, role) for role in roles for module in import_role(role) if hasattr(module, "router")]
    found.sort(key=lambda pair: getattr(pair[0], "ROUTE_ORDER", 100))  # stable: roles keep their order
    return [(role, module.router) for module, role in found]


def page_routes(*roles: str) -> list[BaseRoute]:
    """Every ``PAGE_ROUTES`` of these roles' modules (``webapp.web.page_route``)."""
    return [
        route
        for role in roles
        for module in import_role(role)
        for route in getattr(module, "PAGE_ROUTES", ())
    ]


def guard_by_prefix(router: APIRouter, parent_prefix: str) -> APIRouter:
    """Let the router turn down paths outside its routes' common prefix before scanning them.

    FastAPI matches a request by walking every included router and every route in it, twice (once to
    find it, once to dispatch); with ~120 routes that cost more than a list query. A router whose
    routes share a prefix can answer "no" from the path alone.
    """
    paths = [parent_prefix + getattr(route, "path", "") for route in router.routes]
    prefix = _common_path_prefix(paths) if paths else ""
    if prefix in ("", "/"):
        return router
    original = router.matches

    def matches(scope: Scope) -> tuple[Match, Scope]:
        path: str = scope["path"]
        if not path.startswith(prefix):
            return Match.NONE, {}
        return original(scope)

    router.matches = matches  # type: ignore[method-assign]
    return router


def _common_path_prefix(paths: list[str]) -> str:
    """The longest prefix of whole segments shared by all paths ("/api/v1/tickets" for its routes)."""
    first, *rest = [p.split("/") for p in paths]
    common: list[str] = []
    for i, segment in enumerate(first):
        if "{" in segment or any(len(p) <= i or p[i] != segment for p in rest):
            break
        common.append(segment)
    return "/".join(common)


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, freeze_gc: bool = False
) -> FastAPI:
    """The application; ``freeze_gc`` for a server process (``fixflow.asgi``), see the lifespan."""
    settings = settings or get_settings()
    load_features()
    database = db or Database(
        settings.database_url,
        read_concurrency=settings.database_read_concurrency,
        pool_pre_ping=settings.database_pre_ping,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if settings.run_worker_in_process:
            worker = Worker(database, poll_seconds=settings.worker_poll_seconds)
            thread = threading.Thread(
                target=worker.run_until, args=(stop,), name="fixflow-worker", daemon=True
            )
            thread.start()
        await database.open_async_reads()
        if freeze_gc:
            # Everything built so far lives as long as the process: out of the collector's generations,
            # so a full collection walks only what requests allocate. It walked all of it, and those
            # pauses made a list's p99 3-4x its p50 (bench/RESULTS.md).
            gc.collect()
            gc.freeze()
            # Full collections only every 50 x 100 young ones (Python's default: 10 x 10). Caches
            # that turn over (cards, moments, statements) keep promoting objects to the oldest
            # generation, and with few unfrozen long-lived objects Python then ran a full collection
            # every 0.4-1.5 s under load, 10-20 ms each: measured, 13-16 a run against 2, and the
            # ticket page's p99 25.7-46.6 ms against 21.1-24.6 (bench/RESULTS.md).
            gc.set_threshold(*SERVER_GC_THRESHOLDS)
        try:
            yield
        finally:
            await database.close_async_reads()
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
            if db is None:
                database.dispose()

    app = FastAPI(
        title="fixflow",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    from fixflow.webapp.web import error_page

    install_problem_handlers(app, html_error_page=error_page)
    # Included straight into the app, not through an /api/v1 router: each level of nesting makes FastAPI
    # match the levels below it again.
    # Hot read pages first of all, as plain routes (webapp.web.page_route).
    app.router.routes[0:0] = page_routes("views")
    for role, router in feature_routers("api", "views"):
        prefix = API_PREFIX if role == "api" else ""
        app.include_router(guard_by_prefix(router, prefix), prefix=prefix)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        try:
            with database.session() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app
