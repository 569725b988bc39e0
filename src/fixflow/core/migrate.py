"""Running Alembic migrations from code (CLI, tests, ``serve --demo``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

# Inside the package, so an installed fixflow (not only a checkout) can migrate its database. The
# repository's alembic.ini points Alembic's own command line here too.
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def objects_of_dialect(dialect: str) -> Callable[..., bool]:
    """An ``include_object`` hook: objects declared for one dialect (``.ddl_if``) exist only there."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, dialect)

    return include
