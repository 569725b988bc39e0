"""Browser tests (Chromium via Playwright) of live.js, pwa.js and the service worker.

Skipped when no Chromium can be launched: set FIXFLOW_CHROMIUM to a browser binary, or have
``chromium`` on PATH (Debian: ``apt-get install chromium``), or Playwright's own build installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from livetools import api_login, server

from builders import PASSWORD, World

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = (
        os.environ.get("FIXFLOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    with playwright_api.sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as exc:  # no browser on this machine
            pytest.skip(f"Chromium not available: {exc}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def app_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with server(database_url, tmp_path_factory.mktemp("browser-server"), worker=True) as base:
        yield base


@pytest.fixture
def page(browser: Any, app_server: str, world: World) -> Iterator[Any]:
    context = browser.new_context(base_url=app_server, viewport={"width": 360, "height": 740}, locale="ru-RU")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" and not expected(msg.text) else None,
    )
    tab.goto("/app/login")
    tab.fill("#login", world.customer_a.login)
    tab.fill("#password", PASSWORD)
    tab.click("[data-testid=login-submit]")
    tab.wait_for_url("**/app/tickets**")
    yield tab
    context.close()
    assert errors == [], errors


def expected(console_error: str) -> bool:
    """Errors the browser logs by design: failed loads while the test has switched the network off."""
    return "net::ERR_INTERNET_DISCONNECTED" in console_error or "Failed to load resource" in console_error


class Staff:
    """The dispatcher, acting through the API of the running server."""

    def __init__(self, base: str, world: World) -> None:
        self.base, self.world = base, world
        self.headers = api_login(base, world.dispatcher.login)

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return dict(
            httpx.get(f"{self.base}/api/v1/tickets/{ticket_id}", headers=self.headers, timeout=10).json()
        )

    def assign_and_fire(self, ticket_id: int, label: str = "Назначить") -> None:
        body = {"version": self.ticket(ticket_id)["version"], "executor_ids": [self.world.executor.id]}
        response = httpx.patch(
            f"{self.base}/api/v1/tickets/{ticket_id}", json=body, headers=self.headers, timeout=10
        )
        assert response.status_code == 200, response.text
        ticket = self.ticket(ticket_id)
        transition = next(t for t in ticket["transitions"] if t["label"] == label)
        body = {"transition_id": transition["id"], "version": ticket["version"]}
        url = f"{self.base}/api/v1/tickets/{ticket_id}/transitions"
        response = httpx.post(url, json=body, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text


def new_ticket(base: str, world: World) -> int:
    headers = api_login(base, world.customer_a.login)
    body = {"type_id": world.type_id, "object_id": world.objects_a[1], "description": "Не работает насос"}
    response = httpx.post(f"{base}/api/v1/tickets", json=body, headers=headers, timeout=10)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def wait_connected(page: Any) -> None:
    page.wait_for_selector("html[data-live-state=connected]", state="attached", timeout=TIMEOUT_MS)


def test_open_list_updates_without_reload(page: Any, app_server: str, world: World) -> None:
    ticket_id = new_ticket(app_server, world)
    page.goto("/app/tickets")
    status = page.locator(f'[data-ticket-id="{ticket_id}"] [data-testid=card-status]')
    playwright_api.expect(status).to_have_text("Новая")
    wait_connected(page)
    page.evaluate("window.__sameDocument = true")

    Staff(app_server, world).assign_and_fire(ticket_id)

    playwright_api.expect(status).to_have_text("В работе", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True  # swapped in place, no reload


def test_typed_text_is_never_swapped_away(page: Any, app_server: str, world: World) -> None:
    ticket_id = new_ticket(app_server, world)
    page.goto(f"/app/tickets/{ticket_id}")
    wait_connected(page)
    # A field inside the live region with something typed in it (e.g. a comment being written).
    page.evaluate(
        """id => {
            const area = document.createElement('textarea');
            area.id = 'probe';
            document.getElementById('ticket-' + id).append(area);
        }""",
        ticket_id,
    )
    page.fill("#probe", "пишу комментарий")

    Staff(app_server, world).assign_and_fire(ticket_id)

    notice = page.locator("[data-testid=live-notice]")
    playwright_api.expect(notice).to_be_visible(timeout=TIMEOUT_MS)
    assert page.input_value("#probe") == "пишу комментарий"
    playwright_api.expect(page.locator("[data-testid=ticket-status]")).to_have_text("Новая")
    page.click("[data-testid=live-apply]")  # the user asks for the update
    playwright_api.expect(page.locator("[data-testid=ticket-status]")).to_have_text(
        "В работе", timeout=TIMEOUT_MS
    )


def test_other_customers_tickets_never_reach_the_page(page: Any, app_server: str, world: World) -> None:
    page.goto("/app/tickets")
    wait_connected(page)
    page.evaluate(
        """() => {
            window.__fetches = 0;
            const original = window.fetch;
            window.fetch = (...args) => { window.__fetches += 1; return original(...args); };
        }"""
    )
    headers = api_login(app_server, world.customer_b.login)
    body = {"type_id": world.type_id, "object_id": world.objects_b[1], "description": "чужая"}
    assert (
        httpx.post(f"{app_server}/api/v1/tickets", json=body, headers=headers, timeout=10).status_code == 201
    )
    page.wait_for_timeout(2_000)
    assert page.evaluate("window.__fetches") == 0  # no event arrived, so nothing was re-fetched


def test_offline_keeps_pages_readable_and_refuses_actions(page: Any, app_server: str, world: World) -> None:
    ticket_id = new_ticket(app_server, world)
    page.goto("/app/tickets")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now controlled by the worker, which stores the page
    page.wait_for_function(
        """async () => {
            const cache = await caches.open('fixflow-pages-v1');
            return (await cache.keys()).some(r => new URL(r.url).pathname === '/app/tickets');
        }""",
        timeout=TIMEOUT_MS,
    )
    page.context.set_offline(True)
    try:
        page.reload()
        assert page.locator('meta[name="fixflow-offline"]').count() == 1  # served by the worker's cache
        playwright_api.expect(page.locator(f'[data-ticket-id="{ticket_id}"]')).to_be_visible()
        banner = page.locator("[data-testid=offline-banner]")
        playwright_api.expect(banner).to_contain_text("Нет сети")

        search = page.locator("[data-testid=search-form] input[name=q]")
        search.fill("насос")
        search.press("Enter")
        playwright_api.expect(page.locator("[data-testid=offline-refused]")).to_contain_text(
            "действие не выполнено"
        )
        assert search.input_value() == "насос"  # nothing typed is lost

        page.goto("/app/tickets/999999999")  # never seen: the offline page, not a browser error
        playwright_api.expect(page.locator("[data-testid=offline-page]")).to_be_visible()
    finally:
        page.context.set_offline(False)
