"""Live updates of open screens (server-sent events) and the installable app shell (PWA)."""
