"""The app icons, drawn and PNG-encoded in pure Python (no image library, nothing downloaded).

The mark is a white ring with a check mark («fixed») on the app's blue. Shapes are signed distance
functions, so one evaluation per pixel gives anti-aliased edges. Regenerate with
``python -m fixflow.live.icons`` after changing the design; the PNGs are committed under
``static/icons``.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

BLUE = (0x15, 0x65, 0xC0)
WHITE = (0xFF, 0xFF, 0xFF)
ICON_DIR = Path(__file__).resolve().parent.parent / "static" / "icons"


@dataclass(frozen=True)
class IconSpec:
    name: str
    size: int
    full_bleed: bool  # maskable / apple-touch: the platform cuts the shape, we fill every pixel
    mark_scale: float  # the mark's size relative to the icon


ICONS = (
    IconSpec("icon-192.png", 192, full_bleed=False, mark_scale=0.62),
    IconSpec("icon-512.png", 512, full_bleed=False, mark_scale=0.62),
    IconSpec("icon-maskable-512.png", 512, full_bleed=True, mark_scale=0.50),  # inside the 80 % safe zone
    IconSpec("apple-touch-icon.png", 180, full_bleed=True, mark_scale=0.62),
)


def png_bytes(width: int, height: int, rgba_rows: list[bytes]) -> bytes:
    """An 8-bit RGBA PNG (filter type 0 on every row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row for row in rgba_rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _rounded_square(x: float, y: float, half: float, radius: float) -> float:
    qx, qy = abs(x) - half + radius, abs(y) - half + radius
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - radius


def _segment(x: float, y: float, ax: float, ay: float, bx: float, by: float, width: float) -> float:
    px, py, dx, dy = x - ax, y - ay, bx - ax, by - ay
    t = max(0.0, min(1.0, (px * dx + py * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - dx * t, py - dy * t) - width / 2


def _mark(x: float, y: float) -> float:
    """Distance to the mark in units where the mark spans [-1, 1]."""
    ring = abs(math.hypot(x, y) - 0.84) - 0.08
    check = min(
        _segment(x, y, -0.42, 0.02, -0.12, 0.32, 0.18),
        _segment(x, y, -0.12, 0.32, 0.46, -0.30, 0.18),
    )
    return min(ring, check)


def render(spec: IconSpec) -> bytes:
    size = spec.size
    half = size / 2
    mark_half = half * spec.mark_scale
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            x, y = i + 0.5 - half, j + 0.5 - half
            background = 1.0
            if not spec.full_bleed:
                background = min(1.0, max(0.0, 0.5 - _rounded_square(x, y, half - 0.5, size * 0.22)))
            cover = min(1.0, max(0.0, 0.5 - _mark(x / mark_half, y / mark_half) * mark_half))
            red, green, blue = (round(b + (w - b) * cover) for b, w in zip(BLUE, WHITE, strict=True))
            row += bytes((red, green, blue, round(255 * background)))
        rows.append(bytes(row))
    return png_bytes(size, size, rows)


def write_icons(directory: Path = ICON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in ICONS:
        path = directory / spec.name
        path.write_bytes(render(spec))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_icons():
        print(written_path)
