"""ASGI entry point for uvicorn workers: ``fixflow.asgi:app``."""

from fixflow.app import create_app

app = create_app(freeze_gc=True)
