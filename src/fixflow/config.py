"""Configuration: one Settings object read from ``FIXFLOW_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 (refused in production)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIXFLOW_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("data")
    database_url: str = ""
    # Test each pooled PostgreSQL connection with a round trip before use. Off by default: it costs a
    # round trip per request, and without it a database restart fails a request or two per process
    # (the pool is then discarded and rebuilt; the hot reads' held connections each fail once). On,
    # hot reads no longer keep their connections between turns. Turn it on behind proxies that drop
    # idle connections.
    database_pre_ping: bool = False
    # Reads in flight at once per server process on its event-loop connections (lists, counters,
    # ticket profiles); further requests wait their turn in the process, in arrival order. More in
    # flight only queue on the database's cores, in no order. On the 2-core reference machine, side by
    # side against 10: a customer admin's list page p99 106 -> 27 ms (2) or 28 ms (1), 1,063 -> 1,304
    # req/s; 1 is a little faster still there, but one slow statement would then hold up every read
    # of the process (bench/RESULTS.md). Raise it with the database server's cores.
    database_read_concurrency: int = Field(default=2, ge=1, le=100)
    secret_key: str = DEV_SECRET
    base_url: str = "http://127.0.0.1:8000"
    default_locale: Literal["ru", "en"] = "ru"
    default_timezone: str = "Europe/Moscow"

    redis_url: str = ""
    live_channel: str = "fixflow:live"  # the Redis pub/sub channel of live updates (one per deployment)
    run_worker_in_process: bool = True
    worker_poll_seconds: float = 1.0

    session_days: int = 30
    login_failures_per_login: int = 5
    login_failures_per_ip: int = 30
    login_throttle_window_seconds: int = 900

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_from: str = "fixflow <no-reply@fixflow.local>"

    sms_provider: Literal["outbox", "http"] = "outbox"
    sms_http_url_template: str = ""
    sms_http_method: Literal["GET", "POST"] = "POST"

    upload_max_bytes: int = Field(default=10 * 1024 * 1024)
    # Uploads nobody attached (an abandoned form) are deleted this long after they were stored.
    unbound_upload_hours: int = Field(default=24, ge=1)

    @model_validator(mode="after")
    def _fill_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'fixflow.db').as_posix()}"
        if self.env == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("FIXFLOW_SECRET_KEY must be set in production mode")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
