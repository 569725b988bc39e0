"""Feature discovery: each feature package contributes optional modules by fixed file roles.

``models`` (tables), ``tasks`` (job handlers, consumers, periodic tasks), ``api`` (a ``router`` mounted
under /api/v1) and ``views`` (a ``router`` of HTML pages). Adding a feature never edits a central list.
"""

from __future__ import annotations

import importlib
import importlib.util
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
    modules = []
    for package in feature_packages():
        name = f"fixflow.{package}.{role}"
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            continue
        if spec is not None:
            modules.append(importlib.import_module(name))
    return modules
