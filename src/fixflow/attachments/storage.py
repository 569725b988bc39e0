"""Bytes of uploaded files on the local disk, outside the web root, under random names.

Files go to ``<data_dir>/uploads/ab/cd/<32 hex>``: the name carries nothing the client chose, so no
path, extension or content type of the upload can influence how the file is stored or served.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024
SNIFF_BYTES = 8 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_KEY_RE = re.compile(r"[0-9a-f]{32}")


class TooLarge(Exception):
    """The stream exceeded the size limit; nothing was kept."""


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str
    content_type: str


def sniff_content_type(head: bytes) -> str:
    """The type told by the first bytes; only types we are willing to serve are recognised."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head and _looks_like_text(head):
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 without NULs or other control characters than tab and line breaks.

    The head may end inside a multi-byte character, so the decoder is told more may follow.
    """
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return not any((ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\x7f" for ch in text)


def clean_filename(raw: str | None) -> str:
    """A display name: no directories, no control characters, at most 255 characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".") or "file"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 255 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else name[:255]
    return name


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not _KEY_RE.fullmatch(key):
            raise ValueError("invalid storage key")
        return self.root / key[:2] / key[2:4] / key

    def save(self, stream: BinaryIO, *, max_bytes: int) -> StoredFile:
        """Copy the stream to a new random key; raise TooLarge (keeping nothing) past `max_bytes`."""
        key = secrets.token_hex(16)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        return StoredFile(
            key=key, size=size, sha256=digest.hexdigest(), content_type=sniff_content_type(head)
        )

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
