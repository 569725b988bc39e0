"""The installable app shell: the service worker source and the offline page.

The service worker is served from ``/app/sw.js`` (not ``/static/``) so that its default scope is
``/app/`` — the customer app — without a ``Service-Worker-Allowed`` header. Its cache version and
precache list are filled in from the static files actually present, so any change to the CSS, JS or
icons installs a new worker and refreshes the cached shell.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import orjson
from jinja2 import Environment, FileSystemLoader

PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"
SW_FILE = STATIC_DIR / "sw.js"
OFFLINE_TEMPLATE = "app/offline.html"
OFFLINE_URL = "/app/offline"
OFFLINE_ACTION_URL = "/app/offline?action=1"
PRECACHE_SUFFIXES = frozenset({".css", ".js", ".mjs", ".png", ".svg", ".ico", ".woff2", ".webmanifest"})

OFFLINE_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Нет сети",
        "lead": "Нет соединения с сервером.",
        "body": "Заявки и списки, которые вы уже открывали, доступны для чтения.",
        "action": "Нет соединения: действие не выполнено. Ничего не отправлено — вернитесь назад, "
        "введённые данные сохранились, и повторите, когда появится сеть.",
        "back": "Назад",
        "retry": "Попробовать снова",
    },
    "en": {
        "title": "No connection",
        "lead": "The server cannot be reached.",
        "body": "Tickets and lists you have opened before can still be read.",
        "action": "No connection: the action was not performed. Nothing was sent — go back, what you "
        "typed is still there, and try again once you are online.",
        "back": "Back",
        "retry": "Try again",
    },
}


def _static_files() -> list[Path]:
    return sorted(
        p for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix in PRECACHE_SUFFIXES and p != SW_FILE
    )


def _fingerprint() -> tuple[tuple[str, int, int], ...]:
    files = [*_static_files(), SW_FILE, TEMPLATE_DIR / OFFLINE_TEMPLATE]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.exists())


@lru_cache(maxsize=4)
def _render_service_worker(fingerprint: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _mtime, _size in fingerprint:
        digest.update(path.encode())
        digest.update(Path(path).read_bytes())
    offline = [OFFLINE_URL, OFFLINE_ACTION_URL]
    precache = [
        *offline,
        *(f"{url}{'&' if '?' in url else '?'}lang={lang}" for url in offline for lang in OFFLINE_TEXTS),
    ]
    precache += ["/static/" + p.relative_to(STATIC_DIR).as_posix() for p in _static_files()]
    source = SW_FILE.read_text(encoding="utf-8")
    return source.replace('"__FIXFLOW_VERSION__"', orjson.dumps(digest.hexdigest()[:16]).decode()).replace(
        '["__FIXFLOW_PRECACHE__"]', orjson.dumps(precache).decode()
    )


def service_worker_source() -> str:
    """Re-rendered only when a static file changes (checked by mtime and size)."""
    return _render_service_worker(_fingerprint())


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True)


def render_offline_page(locale: str, *, failed_action: bool) -> str:
    texts = OFFLINE_TEXTS.get(locale, OFFLINE_TEXTS["ru"])
    stylesheets = [
        "/static/" + p.relative_to(STATIC_DIR).as_posix() for p in _static_files() if p.suffix == ".css"
    ]
    return (
        _environment()
        .get_template(OFFLINE_TEMPLATE)
        .render(
            locale=locale if locale in OFFLINE_TEXTS else "ru",
            t=texts,
            failed_action=failed_action,
            stylesheets=stylesheets,
        )
    )
