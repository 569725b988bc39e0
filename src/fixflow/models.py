"""Imports every feature's ``models`` module so that ``Base.metadata`` is complete (Alembic, tests)."""

from fixflow.core.db import Base
from fixflow.discovery import import_role

import_role("models")

__all__ = ["Base"]
