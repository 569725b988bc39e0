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


def secure_headers(response: Response, nonce: str) -> None:
    response.headers["Content-Security-Policy"] = content_security_policy(nonce)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(self), geolocation=(), microphone=()"
    # Personal data: never in shared caches; the service worker keeps its own offline copy.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Cookie, Accept-Language"
