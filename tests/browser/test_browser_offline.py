"""Browser: the installed app offline — the service worker's saved copies stay readable, and an
action taken offline is refused with a clear message instead of being lost."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from support import (
    ANNA,
    AppServer,
    ScreenFactory,
    app_server,
    browser,
    customer_with_password,
    expect,
    screen,
    tr,
)

from fixflow.tickets.models import Favorite

pytestmark = pytest.mark.browser
__all__ = ["app_server", "browser", "screen"]  # fixtures, imported for pytest

PAGES_CACHE = "fixflow-pages-v1"
CACHED = """async ([name, paths]) => {
    const cache = await caches.open(name);
    const have = (await cache.keys()).map(r => { const u = new URL(r.url); return u.pathname + u.search; });
    return paths.every(p => have.includes(p));
}"""


def saved_for_offline(page: Any, *paths: str) -> None:
    """Visit ``paths`` under the service worker's control and wait until its cache holds each."""
    for path in paths:
        page.goto(path)
        if not page.evaluate("Boolean(navigator.serviceWorker.controller)"):
            page.reload()  # the first page was loaded before the worker took control
    page.wait_for_function(CACHED, arg=[PAGES_CACHE, list(paths)])


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_saved_pages_stay_readable_and_actions_are_refused(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Не открывается дверь ({locale})")
    tab = screen(locale)
    # While offline the browser reports the requests it could not make (the event stream, pages
    # never seen): expected here.
    tab.allow(r"ERR_INTERNET_DISCONNECTED|net::ERR_FAILED|Failed to fetch")
    tab.allow_status(503)  # the worker's offline page for a page never seen
    tab.login(ANNA)
    page = tab.page
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)") is True
    list_path, ticket_path = "/app/tickets?tab=all", f"/app/tickets/{ticket_id}"
    saved_for_offline(page, list_path, ticket_path)

    page.context.set_offline(True)
    try:
        page.goto(list_path)
        assert page.locator('meta[name="fixflow-offline"]').count() == 1  # the worker's saved copy
        expect(page.locator("[data-testid=offline-banner]")).to_contain_text(
            tr(locale, "Нет сети", "No connection")
        )
        expect(tab.card(ticket_id)).to_be_visible()
        tab.shot("list")

        tab.card(ticket_id).click()
        page.wait_for_url(f"**{ticket_path}")
        expect(page.locator("[data-testid=description]")).to_contain_text("Не открывается дверь")
        page.click("[data-testid=more-menu] summary")
        page.click("[data-testid=favorite-add]")
        expect(page.locator("[data-testid=offline-refused]")).to_contain_text(
            tr(locale, "действие не выполнено", "the action was not performed")
        )
        tab.shot("refused")

        page.goto("/app/tickets/999999999")  # never seen: the offline page, not a browser error
        expect(page.locator("[data-testid=offline-page]")).to_be_visible()
    finally:
        page.context.set_offline(False)
    with app_server.session() as session:
        favourite = select(Favorite.ticket_id).where(
            Favorite.ticket_id == ticket_id, Favorite.member_id == app_server.member_id(ANNA)
        )
        assert session.scalar(favourite) is None  # nothing was sent


def test_offline_a_dialog_still_closes(screen: ScreenFactory, app_server: AppServer) -> None:
    """Offline, «Отмена» of a comment dialog closes it: only what would be sent is refused."""
    ticket_id = app_server.new_ticket(ANNA, "Капает с потолка (без сети)")
    app_server.drive(ticket_id, "Работы выполнены")
    tab = screen("ru")
    tab.allow(r"ERR_INTERNET_DISCONNECTED|net::ERR_FAILED|Failed to fetch")
    tab.allow_status(503)
    tab.login(ANNA)
    page = tab.page
    ticket_path = f"/app/tickets/{ticket_id}"
    saved_for_offline(page, ticket_path)

    page.context.set_offline(True)
    try:
        page.goto(ticket_path)
        page.get_by_role("link", name="Не принимать работы").click()
        dialog = page.locator("[data-testid=comment-dialog]:visible")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Отмена").click()
        expect(page.locator("[data-testid=comment-dialog]:visible")).to_have_count(0)
        expect(page.locator("[data-testid=offline-refused]")).to_have_count(0)
    finally:
        page.context.set_offline(False)
    assert app_server.api(ANNA).ticket(ticket_id)["status"]["name"] == "Ожидает приёмки"


def test_a_proxys_gateway_error_shows_the_saved_copy(screen: ScreenFactory, app_server: AppServer) -> None:
    """fixflow down behind a reverse proxy (502/503/504 without fixflow's headers) is offline too:
    the worker answers with the saved copy, not the proxy's error page."""
    ticket_id = app_server.new_ticket(ANNA, "Не греет бойлер (прокси)")
    tab = screen("ru")
    tab.allow_status(502)
    tab.allow(r"502|Bad Gateway|ERR_FAILED")
    tab.login(ANNA)
    page = tab.page
    ticket_path = f"/app/tickets/{ticket_id}"
    saved_for_offline(page, ticket_path)

    def gateway_error(route: Any) -> None:
        route.fulfill(status=502, body="<html><body>502 Bad Gateway</body></html>", content_type="text/html")

    page.context.route(f"**{ticket_path}", gateway_error)
    try:
        page.goto(ticket_path)
        assert page.locator('meta[name="fixflow-offline"]').count() == 1  # the worker's saved copy
        expect(page.locator("[data-testid=description]")).to_contain_text("Не греет бойлер")
    finally:
        page.context.unroute(f"**{ticket_path}")


def test_the_offline_page_speaks_the_language_chosen_after_installing(
    screen: ScreenFactory, app_server: AppServer
) -> None:
    """Installed in Russian, switched to English in the profile: offline, a page never seen gets the
    English offline page (the worker keeps both and follows the last page it stored)."""
    customer = customer_with_password(app_server, "Офлайн-язык-1")
    assert customer.email is not None
    tab = screen("ru")
    tab.allow(r"ERR_INTERNET_DISCONNECTED|net::ERR_FAILED|Failed to fetch")
    tab.allow_status(503)
    tab.login(customer.email, "Офлайн-язык-1")
    page = tab.page
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)") is True
    page.click("[data-testid=profile-link]")
    page.select_option("#lang", "en")
    page.click("[data-testid=language-save]")
    expect(page.locator("[data-testid=flash]")).to_have_text("The language has been saved.")
    saved_for_offline(page, "/app/tickets?tab=all")

    page.context.set_offline(True)
    try:
        page.goto("/app/tickets/999999999")
        expect(page.locator("[data-testid=offline-page]")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("[data-testid=offline-page]")).to_contain_text("No connection")
    finally:
        page.context.set_offline(False)
