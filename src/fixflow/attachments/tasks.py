"""The worker's periodic sweep of uploads nobody attached (``attachments.sweep``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from fixflow.attachments.service import upload_root
from fixflow.attachments.storage import Storage
from fixflow.attachments.sweep import sweep_unbound_uploads
from fixflow.config import get_settings
from fixflow.core.db import utcnow
from fixflow.jobs.registry import periodic

SWEEP_TASK = "sweep_unbound_uploads"


@periodic(SWEEP_TASK, every_seconds=15 * 60)
def sweep_uploads(session: Session) -> None:
    settings = get_settings()
    sweep_unbound_uploads(
        session,
        Storage(upload_root(settings.data_dir)),
        now=utcnow(),
        lifetime=dt.timedelta(hours=settings.unbound_upload_hours),
    )
