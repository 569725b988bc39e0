"""E-mail over a real SMTP server, SMS through the outbox table and through an HTTP gateway."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from builders import World
from fixflow.config import Settings, get_settings
from fixflow.core.db import Database
from fixflow.jobs.models import Job
from fixflow.notifications.email import compose_email, queue_email, resolve_locale
from fixflow.notifications.models import SmsMessage
from fixflow.notifications.sms import HttpSmsGateway, OutboxSmsGateway, queue_sms, sms_gateway
from smtp import SmtpServer, drain_jobs, new_phone, point_settings_at, sms_to


def _jobs(database: Database, kind: str, marker: str) -> list[Job]:
    with database.session() as s:
        return [j for j in s.scalars(select(Job).where(Job.kind == kind)) if marker in str(j.payload)]


def test_compose_escapes_user_text_and_keeps_the_link() -> None:
    content = compose_email(
        subject="Hi <b>", paragraphs=["Tom & <Jerry>"], link="https://x.test/a?b=1&c=2", link_label="Go"
    )
    assert "Tom & <Jerry>" in content.text and "https://x.test/a?b=1&c=2" in content.text
    assert "Tom &amp; &lt;Jerry&gt;" in content.html and "<Jerry>" not in content.html
    assert 'href="https://x.test/a?b=1&amp;c=2"' in content.html
    assert "<title>Hi &lt;b&gt;</title>" in content.html


def test_resolve_locale() -> None:
    assert resolve_locale(None, "en-GB", "ru") == "en"
    assert resolve_locale("de", None) == "ru"
    assert resolve_locale() == "ru"


def test_email_job_delivers_plain_and_html_then_forgets_the_body(
    database: Database, smtp_server: SmtpServer
) -> None:
    to = "Reader-1@Example.test"
    with database.session(write=True) as s:
        queue_email(
            s,
            to=to,
            content=compose_email(subject="Привет", paragraphs=["Текст письма"], link="https://l.test/x"),
        )
    assert smtp_server.to(to) == []  # nothing is sent inside the transaction
    drain_jobs(database)
    mail = smtp_server.one_to(to)
    assert mail.subject == "Привет"
    assert mail.message["From"] == get_settings().smtp_from
    assert "Текст письма" in mail.text and "https://l.test/x" in mail.text
    assert "<p>Текст письма</p>" in mail.html
    [job] = _jobs(database, "send_email", to)
    assert job.status == "done"
    assert job.payload["redacted"] is True and "text" not in job.payload and "html" not in job.payload


def test_email_job_retries_while_the_server_is_down(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    to = "retry@example.test"
    server = SmtpServer()
    point_settings_at(monkeypatch, server.host, server.port)  # not started yet: connection refused
    try:
        with database.session(write=True) as s:
            queue_email(s, to=to, content=compose_email(subject="Retry", paragraphs=["x"]))
        drain_jobs(database)
        [job] = _jobs(database, "send_email", to)
        assert job.status == "pending" and job.attempts == 1 and job.last_error
        server.start()
        with database.session(write=True) as s:
            s.get(Job, job.id).run_at = job.created_at  # type: ignore[union-attr]  # skip the back-off
        drain_jobs(database)
        assert len(server.to(to)) == 1
        [job] = _jobs(database, "send_email", to)
        assert job.status == "done"
    finally:
        server.stop()
        get_settings.cache_clear()


def test_sms_job_stores_the_message_in_the_outbox_table(
    database: Database, world: World, smtp_server: SmtpServer
) -> None:
    phone = new_phone()
    tenant_id = world.tenant_id
    with database.session(write=True) as s:
        queue_sms(s, phone=phone, text="Код 123456", tenant_id=tenant_id)
    assert "Код 123456" not in sms_to(database, phone)
    drain_jobs(database)
    assert "Код 123456" in sms_to(database, phone)
    with database.session() as s:
        row = s.scalars(
            select(SmsMessage).where(SmsMessage.phone == phone, SmsMessage.tenant_id == tenant_id)
        ).one()
        assert row.status == "stored" and row.created_at.tzinfo is not None
    [job] = _jobs(database, "send_sms", phone)
    assert job.status == "done" and "text" not in job.payload


def test_gateway_choice_follows_settings(session: object, settings: Settings) -> None:
    assert isinstance(sms_gateway(session, settings), OutboxSmsGateway)  # type: ignore[arg-type]
    http = settings.model_copy(
        update={"sms_provider": "http", "sms_http_url_template": "http://x/?p={phone}&t={text}"}
    )
    assert isinstance(sms_gateway(session, http), HttpSmsGateway)  # type: ignore[arg-type]


@dataclass
class FakeGateway:
    status: int = 200
    requests: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def http_gateway() -> Iterator[tuple[FakeGateway, str]]:
    state = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            state.requests.append((self.command, self.path))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = _answer
        do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_gateway_url_encodes_and_uses_the_method(http_gateway: tuple[FakeGateway, str]) -> None:
    state, base = http_gateway
    text = "Код: 12 & 34 = ok?"
    HttpSmsGateway(base + "/send?to={phone}&text={text}", "GET").send("+79001234567", text)
    HttpSmsGateway(base + "/send?to={phone}&text={text}", "POST").send("+79001234567", text)
    (get_method, get_path), (post_method, post_path) = state.requests
    assert (get_method, post_method) == ("GET", "POST")
    assert "%2B79001234567" in get_path and "%26" in get_path  # '+' and '&' cannot leak into the query
    query = parse_qs(urlsplit(get_path).query)
    assert query == {"to": ["+79001234567"], "text": [text]}
    assert post_path == get_path


def test_http_gateway_raises_on_non_2xx(http_gateway: tuple[FakeGateway, str]) -> None:
    state, base = http_gateway
    state.status = 503
    with pytest.raises(httpx.HTTPStatusError):
        HttpSmsGateway(base + "/send?to={phone}&text={text}").send("+79001234567", "x")
    with pytest.raises(ValueError, match="placeholders"):
        HttpSmsGateway(base + "/send")


def test_sms_job_through_http_gateway_retries_until_accepted(
    database: Database, monkeypatch: pytest.MonkeyPatch, http_gateway: tuple[FakeGateway, str]
) -> None:
    state, base = http_gateway
    phone = new_phone()
    monkeypatch.setenv("FIXFLOW_SMS_PROVIDER", "http")
    monkeypatch.setenv("FIXFLOW_SMS_HTTP_URL_TEMPLATE", base + "/send?to={phone}&text={text}")
    monkeypatch.setenv("FIXFLOW_SMS_HTTP_METHOD", "GET")
    get_settings.cache_clear()
    try:
        state.status = 500
        with database.session(write=True) as s:
            queue_sms(s, phone=phone, text="via http")
        drain_jobs(database)
        [job] = _jobs(database, "send_sms", phone)
        assert job.status == "pending" and job.attempts == 1 and "500" in (job.last_error or "")
        state.status = 200
        with database.session(write=True) as s:
            s.get(Job, job.id).run_at = job.created_at  # type: ignore[union-attr]
        drain_jobs(database)
        [job] = _jobs(database, "send_sms", phone)
        assert job.status == "done"
        assert len(state.requests) == 2 and all(m == "GET" for m, _ in state.requests)
        assert sms_to(database, phone) == []  # the HTTP gateway does not write the outbox table
    finally:
        get_settings.cache_clear()
