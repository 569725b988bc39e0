"""fixflow — open-source field-service management."""

__version__ = "0.1.0"
