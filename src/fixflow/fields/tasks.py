"""Plugs additional fields into the ticket services (imported by feature discovery)."""

from __future__ import annotations

from fixflow.fields.extension import TicketFields, install_file_binding
from fixflow.tickets.extensions import EXTENSIONS

EXTENSIONS.fields = TicketFields()
install_file_binding()
