"""Security headers of every customer-app response: a strict CSP with a per-request style nonce."""

from __future__ import annotations

from starlette.responses import Response


def content_security_policy(nonce: str) -> str:
    """No inline scripts at all; inline styles only in the nonce'd palette block."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


_NONCE = "\0"
_CSP_BEFORE, _CSP_AFTER = content_security_policy(_NONCE).split(_NONCE)
_FIXED = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), geolocation=(), microphone=()"),
    # Personal data: never in shared caches; the service worker keeps its own offline copy.
    (b"cache-control", b"private, no-cache"),
    (b"vary", b"Cookie, Accept-Language"),
]
_OURS = frozenset({b"content-security-policy", *(name for name, _value in _FIXED)})


def secure_headers(response: Response, nonce: str) -> None:
    """Set (replace) these headers on the response: encoded once, not one ``headers[...] =`` each,
    which searched and re-encoded the header list for every header of every page."""
    raw = response.raw_headers
    if any(name in _OURS for name, _value in raw):
        raw[:] = [(name, value) for name, value in raw if name not in _OURS]
    raw.append((b"content-security-policy", f"{_CSP_BEFORE}{nonce}{_CSP_AFTER}".encode("latin-1")))
    raw.extend(_FIXED)
