"""Imports the modules that register tables, job handlers, event consumers and periodic tasks."""

from __future__ import annotations

from fixflow.discovery import import_role


def load_features() -> None:
    import_role("models")
    import_role("tasks")
