"""The ASGI application: routers, error handlers and the in-process worker."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from fixflow import __version__
from fixflow.config import Settings, get_settings
from fixflow.core.db import Database
from fixflow.core.http import JSONResponse, install_problem_handlers
from fixflow.discovery import import_role
from fixflow.features import load_features
from fixflow.jobs.worker import Worker

STATIC_DIR = Path(__file__).resolve().parent / "static"


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for module in import_role("api"):
        router.include_router(module.router)
    return router


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    load_features()
    database = db or Database(settings.database_url)

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
        try:
            yield
        finally:
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
    app.include_router(api_router())
    for module in import_role("views"):
        app.include_router(module.router)
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
