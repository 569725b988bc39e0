"""What a server process does at startup that tests' in-process apps do not."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from fixflow.app import create_app
from fixflow.config import Settings
from fixflow.core.db import Database


def test_a_server_process_freezes_its_startup_objects(settings: Settings, database: Database) -> None:
    """Full collections then walk only what requests allocate (p99 spikes otherwise, bench/RESULTS.md)."""
    gc.unfreeze()
    try:
        with TestClient(create_app(settings, db=database)):
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(settings, db=database, freeze_gc=True)) as client:
            assert gc.get_freeze_count() > 0
            assert client.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()
