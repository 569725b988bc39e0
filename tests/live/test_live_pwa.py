"""The installable shell: manifest, icons, service worker and offline page."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fixflow.live.icons import ICONS, render
from fixflow.live.pwa import STATIC_DIR

ICON_DIR = STATIC_DIR / "icons"


def png_info(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, raw RGBA scanlines), checking signature, chunk CRCs and the zlib stream."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 6)  # 8-bit RGBA
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + 4 * width)
    return width, height, raw


def alpha_at(raw: bytes, width: int, x: int, y: int) -> int:
    return raw[y * (1 + 4 * width) + 1 + 4 * x + 3]


def test_manifest_makes_the_app_installable() -> None:
    manifest = json.loads((STATIC_DIR / "manifest.webmanifest").read_text(encoding="utf-8"))
    assert manifest["name"] == "fixflow" and manifest["short_name"]
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == ("/app/", "/app/", "standalone")
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    by_purpose = {(i["sizes"], i.get("purpose", "any")): i["src"] for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(by_purpose)
    for (sizes, _purpose), src in by_purpose.items():
        assert src.startswith("/static/")
        width, height, _ = png_info((STATIC_DIR / src.removeprefix("/static/")).read_bytes())
        assert f"{width}x{height}" == sizes


@pytest.mark.parametrize("spec", ICONS, ids=lambda s: s.name)
def test_icons_are_valid_pngs_with_the_right_shape(spec: object) -> None:
    name, size, full_bleed = spec.name, spec.size, spec.full_bleed  # type: ignore[attr-defined]
    width, height, raw = png_info((ICON_DIR / name).read_bytes())
    assert (width, height) == (size, size)
    corner, centre = alpha_at(raw, width, 0, 0), alpha_at(raw, width, size // 2, size // 2)
    assert centre == 255
    # maskable and apple-touch icons fill every pixel (the platform cuts the shape); others are rounded
    assert corner == (255 if full_bleed else 0)


def test_committed_icons_match_the_generator() -> None:
    small = next(s for s in ICONS if s.size == 192)
    assert (ICON_DIR / small.name).read_bytes() == render(small)


def test_service_worker_is_served_for_the_app_scope(client: TestClient) -> None:
    response = client.get("/app/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    source = response.text
    assert "__FIXFLOW_" not in source
    version = re.search(r'const VERSION = "([0-9a-f]{16})";', source)
    precache = re.search(r"const PRECACHE = (\[.*?\]);", source)
    assert version and precache
    urls = json.loads(precache.group(1))
    assert {"/app/offline", "/app/offline?action=1", "/static/js/live.js", "/static/js/pwa.js"} <= set(urls)
    # One offline page per language: the worker shows the one of the last page it stored.
    assert {"/app/offline?lang=en", "/app/offline?action=1&lang=en", "/app/offline?lang=ru"} <= set(urls)
    assert {"/static/icons/icon-192.png", "/static/manifest.webmanifest"} <= set(urls)
    assert "/static/sw.js" not in urls
    for url in urls:
        if url.startswith("/static/"):
            assert (STATIC_DIR / url.removeprefix("/static/")).is_file()


def test_offline_page_in_both_languages(client: TestClient) -> None:
    ru = client.get("/app/offline")
    assert ru.status_code == 200 and '<html lang="ru">' in ru.text and "Нет сети" in ru.text
    refused = client.get("/app/offline?action=1")
    assert "Нет соединения: действие не выполнено" in refused.text
    client.cookies.set("lang", "en")
    en = client.get("/app/offline?action=1")
    assert '<html lang="en">' in en.text and "No connection: the action was not performed" in en.text
    asked = client.get("/app/offline?lang=ru")  # the language asked for wins over the cookie
    assert '<html lang="ru">' in asked.text and "Нет сети" in asked.text
    assert '<html lang="en">' in client.get("/app/offline?lang=xx").text  # unknown: as before


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_scripts_parse(client: TestClient, tmp_path: Path) -> None:
    rendered = tmp_path / "sw.js"
    rendered.write_text(client.get("/app/sw.js").text, encoding="utf-8")
    for script in (rendered, STATIC_DIR / "js" / "live.js", STATIC_DIR / "js" / "pwa.js"):
        result = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
