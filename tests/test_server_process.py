"""What a server process does at startup that tests' in-process apps do not."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from fixflow.app import SERVER_GC_THRESHOLDS, create_app
from fixflow.config import Settings
from fixflow.core.db import Database


def test_a_server_process_freezes_its_startup_objects(settings: Settings, database: Database) -> None:
    """Full collections then walk only what requests allocate (p99 spikes otherwise, bench/RESULTS.md)."""
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        with TestClient(create_app(settings, db=database)):
            assert gc.get_freeze_count() == 0
            assert gc.get_threshold() == thresholds
        with TestClient(create_app(settings, db=database, freeze_gc=True)) as client:
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold() == SERVER_GC_THRESHOLDS  # full collections seldom
            assert client.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_async_read_engine_lives_with_the_app(settings: Settings, database: Database) -> None:
    """Opened at startup on PostgreSQL (the hottest reads run on the event loop), disposed at shutdown."""
    app = create_app(settings, db=database)
    with TestClient(app) as client:
        engines = database.engines()
        assert client.get("/healthz").status_code == 200
        if database.dialect == "postgresql":
            assert len(engines) == 2
        else:
            assert engines == [database.engine]
    assert database.engines() == [database.engine]
    assert database.async_reads() is None  # no running loop here, and none left open
