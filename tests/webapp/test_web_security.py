"""Strict CSP, no inline script or style, escaped user text, security headers on every app page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from webtools import find, find_all, web_login

from builders import World, make_ticket, ticket_in_stage
from fixflow.core.db import Database

EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def check_page(response: object) -> None:
    html = response.text  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert "no-cache" in headers["cache-control"] or "no-store" in headers["cache-control"]
    for script in find_all(html, tag="script"):
        assert script.attrs.get("src", "").startswith("/static/"), "inline script"
        assert script.text == ""
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    for style in find_all(html, tag="style"):
        assert style.attrs.get("nonce") == nonce.group(1)
    assert " style=" not in html, "inline style attribute"
    assert not EVENT_HANDLER.search(html), "inline event handler"


def test_every_screen_has_a_strict_policy(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена")
    for url in ("/app/login", "/app/forgot", "/app/login/code", "/app/invite/x" * 1, "/app/reset/nonsense"):
        check_page(client.get(url))
    web_login(client, world.customer_a)
    for url in (
        "/app/tickets",
        "/app/tickets?tab=archive&status=1",
        f"/app/tickets/{ticket.id}",
        f"/app/tickets/{ticket.id}?tab=works",
        f"/app/tickets/{ticket.id}/rate",
        "/app/tickets/new",
        f"/app/tickets/new?object={world.objects_a[1]}",
        "/app/profile",
        "/app/tickets/987654321",
    ):
        check_page(client.get(url))


def test_user_text_is_escaped(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world, description='<script>alert("x")</script><img src=x onerror=alert(1)>')
    web_login(client, world.customer_a)
    for url in (f"/app/tickets/{ticket.id}", "/app/tickets"):
        html = client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    listed = client.get("/app/tickets", params={"q": '"><script>'}).text
    assert '"><script>' not in listed
    assert find(listed, id="q")["value"] == '"><script>'


def test_static_assets_are_served(client: TestClient) -> None:
    for path, kind in (
        ("/static/css/app.css", "text/css"),
        ("/static/js/app.js", "javascript"),
        ("/static/js/qr-scan.js", "javascript"),
    ):
        response = client.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"], path


def test_colours_from_the_database_cannot_inject_css(
    client: TestClient, world: World, database: Database
) -> None:
    from fixflow.tickets.models import Ticket
    from fixflow.workflow.models import Status

    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        status = s.get(Status, s.get(Ticket, ticket.id).status_id)  # type: ignore[union-attr]
        assert status is not None
        status.color = "red;}*{top:0"
    web_login(client, world.customer_a)
    html = client.get(f"/app/tickets/{ticket.id}").text
    assert "red;}" not in html
    assert "c-none" in find(html, data_testid="ticket-status")["class"]


def test_unknown_app_page_is_an_html_404_and_the_api_keeps_problem_json(client: TestClient) -> None:
    page = client.get("/app/no-such-screen")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Страница не найдена" in page.text
    api = client.get("/api/v1/no-such-resource")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_security_headers_replace_rather_than_repeat() -> None:
    from starlette.responses import HTMLResponse

    from fixflow.webapp.headers import content_security_policy, secure_headers

    response = HTMLResponse("x", headers={"Cache-Control": "public, max-age=60", "X-Other": "kept"})
    secure_headers(response, "n0nce")
    secure_headers(response, "fresh")  # a second call (an error page after a page) replaces again
    assert response.headers.getlist("cache-control") == ["private, no-cache"]
    assert response.headers.getlist("content-security-policy") == [content_security_policy("fresh")]
    assert response.headers["x-other"] == "kept" and response.headers["x-frame-options"] == "DENY"
    assert response.headers["vary"] == "Cookie, Accept-Language"
