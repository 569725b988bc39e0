"""The customer app (PWA): server-rendered pages at /app/."""
