"""Feature discovery: each feature package contributes optional modules by fixed file roles.

``models`` (tables), ``tasks`` (job handlers, consumers, periodic tasks, extensions), ``api`` (a
``router`` mounted under /api/v1) and ``views`` (a ``router`` of HTML pages). A module named
``<role>_<topic>.py`` (e.g. ``api_recovery.py``) plays the same role. Adding a feature never edits a
central list.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import fixflow

ROLES = ("models", "tasks", "api", "views")


def feature_packages() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(fixflow.__path__)
        if info.ispkg and info.name not in {"templates", "static", "locale"}
    )


def import_role(role: str) -> list[ModuleType]:
    modules: list[ModuleType] = []
    for package in feature_packages():
        package_module = importlib.import_module(f"fixflow.{package}")
        names = sorted(
            info.name
            for info in pkgutil.iter_modules(package_module.__path__)
            if info.name == role or info.name.startswith(f"{role}_")
        )
        modules.extend(importlib.import_module(f"fixflow.{package}.{name}") for name in names)
    return modules
