"""Browser: the five ticket tabs, search and filters, favourites, and the archive after closing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from support import (
    ANNA,
    DISPATCHER,
    PAGE_SIZE,
    RAISA,
    AppServer,
    Screen,
    ScreenFactory,
    app_server,
    browser,
    customer_with_password,
    expect,
    expected_numbers,
    screen,
    ticket_number,
    tr,
)

from fixflow.tickets.models import Ticket
from fixflow.workflow.models import Status

pytestmark = pytest.mark.browser
__all__ = ["app_server", "browser", "screen"]  # fixtures, imported for pytest

LOCALES = pytest.mark.parametrize("locale", ["ru", "en"])
TABS = {
    "mine": ("Мои", "Mine"),
    "approval": ("Согласование", "Approval"),
    "all": ("Все", "All"),
    "favorites": ("Избранное", "Favourites"),
    "archive": ("Архив", "Archive"),
}


def cards_by_number(server: AppServer, numbers: list[str]) -> dict[str, tuple[str, str]]:
    """number → (description, status name) from the database."""
    with server.session() as session:
        rows = session.execute(
            select(Ticket.number, Ticket.description, Status.name)
            .join(Status, Status.id == Ticket.status_id)
            .where(Ticket.number.in_(numbers))
        )
        return {number: (description, status) for number, description, status in rows}


def open_tab(tab: Screen, name: str, locale: str) -> None:
    page = tab.page
    page.click(f"[data-testid=tab-{name}]")
    expect(page.locator(f"[data-testid=tab-{name}]")).to_have_attribute("aria-current", "page")
    ru, en = TABS[name]
    expect(page.locator(".appbar__title")).to_have_text(tr(locale, ru, en))


def search(tab: Screen, text: str) -> None:
    page = tab.page
    page.fill("#q", text)
    with page.expect_navigation():
        page.press("#q", "Enter")


@LOCALES
def test_each_tab_shows_what_the_database_says(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    tab = screen(locale)
    tab.login(ANNA)
    seen: dict[str, list[str]] = {}
    for name in TABS:
        open_tab(tab, name, locale)
        expected = expected_numbers(app_server, ANNA, name)
        assert tab.card_numbers() == expected, name
        seen[name] = expected
        if not expected:
            expect(tab.page.locator("[data-testid=empty-list]")).to_be_visible()
        tab.shot(name)

    # Анна's pending approval is in «Согласование», and the badge counts it.
    assert seen["approval"], "the demo data has a ticket waiting for Анна's approval"
    badge = tab.page.locator("[data-testid=approval-count]")
    expect(badge).to_contain_text(str(len(seen["approval"])))
    assert set(seen["mine"]) <= set(seen["all"])
    assert not set(seen["archive"]) & set(seen["all"])  # closed tickets only in «Архив»
    assert seen["favorites"] and seen["archive"]

    # Each card: number, status, the start of the description — as stored.
    open_tab(tab, "all", locale)
    stored = cards_by_number(app_server, seen["all"])
    for number in seen["all"]:
        card = tab.page.locator(f'[data-testid=ticket-card][data-number="{number}"]')
        description, status = stored[number]
        expect(card.locator("[data-testid=card-status]")).to_have_text(status)
        expect(card).to_contain_text(description[:40])
        expect(card).to_contain_text(number)


def test_customer_admin_sees_every_ticket_of_the_company(
    screen: ScreenFactory, app_server: AppServer
) -> None:
    tab = screen()
    tab.login("8 900 000 00 11")
    for name in ("all", "archive", "mine"):
        open_tab(tab, name, "ru")
        assert tab.card_numbers() == expected_numbers(app_server, RAISA, name), name
    assert expected_numbers(app_server, RAISA, "all") != expected_numbers(app_server, RAISA, "mine")


@LOCALES
def test_search_and_a_filter(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    tab = screen(locale)
    page = tab.page
    tab.login(ANNA)
    open_tab(tab, "all", locale)
    everything = expected_numbers(app_server, ANNA, "all")
    stored = cards_by_number(app_server, everything)

    # By number.
    number = everything[-1]
    search(tab, number)
    assert tab.card_numbers() == [number]

    # By a piece of the description, in another case.
    word = "ТЕЧЁТ ВОДА"
    search(tab, word)
    wanted = [n for n in everything if word.lower() in stored[n][0].lower()]
    assert wanted and tab.card_numbers() == wanted
    expect(page.locator("#q")).to_have_value(word)

    # A filter by status: a dot shows it is on, «Сбросить» clears it.
    search(tab, "")
    status = stored[everything[0]][1]
    page.click("[data-testid=filters] summary")
    page.select_option("#f-status", label=status)
    tab.shot("filters")
    page.click("[data-testid=filters-apply]")
    page.wait_for_url(re.compile(r"status=\d+"))
    expect(page.locator("[data-testid=filter-dot]")).to_be_attached()
    assert tab.card_numbers() == [n for n in everything if stored[n][1] == status]
    page.click("[data-testid=filters-reset]")
    expect(page.locator("[data-testid=filter-dot]")).to_have_count(0)
    assert tab.card_numbers() == everything
    reset = page.locator("[data-testid=filters-reset]")
    expect(reset).to_have_count(0)

    # Nothing found says so.
    search(tab, "нет такой заявки 0000")
    expect(page.locator("[data-testid=empty-list]")).to_contain_text(
        tr(locale, "Ничего не найдено", "Nothing found")
    )


@LOCALES
def test_favourite_add_and_remove_from_the_more_menu(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Мигает свет в зале ({locale})")
    number = ticket_number(app_server, ticket_id)
    tab = screen(locale)
    page = tab.page
    tab.login(ANNA)
    page.goto(f"/app/tickets/{ticket_id}")
    expect(page.locator("[data-testid=ticket-favorite]")).to_have_count(0)
    page.click("[data-testid=more-menu] summary")
    tab.shot("menu")
    page.click("[data-testid=favorite-add]")
    expect(page.locator("[data-testid=flash]")).to_have_text(
        tr(locale, "Добавлено в избранное.", "Added to favourites.")
    )
    expect(page.locator("[data-testid=ticket-favorite]")).to_be_visible()

    page.click("[data-testid=back]")
    open_tab(tab, "favorites", locale)
    assert number in tab.card_numbers()
    assert tab.card_numbers() == expected_numbers(app_server, ANNA, "favorites")
    expect(tab.card(ticket_id).locator("[data-testid=card-favorite]")).to_be_visible()
    open_tab(tab, "mine", locale)
    expect(tab.card(ticket_id).locator("[data-testid=card-favorite]")).to_be_visible()

    tab.card(ticket_id).click()
    page.click("[data-testid=more-menu] summary")
    page.click("[data-testid=favorite-remove]")
    expect(page.locator("[data-testid=flash]")).to_have_text(
        tr(locale, "Удалено из избранного.", "Removed from favourites.")
    )
    expect(page.locator("[data-testid=ticket-favorite]")).to_have_count(0)
    page.click("[data-testid=back]")
    open_tab(tab, "favorites", locale)
    assert number not in tab.card_numbers()
    assert tab.card_numbers() == expected_numbers(app_server, ANNA, "favorites")


@LOCALES
def test_closing_moves_the_ticket_to_the_archive_without_a_reload(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Не работает вытяжка ({locale})")
    app_server.drive(ticket_id, "Работы выполнены")
    app_server.api(ANNA).transition(ticket_id, "Принять работы")
    number = ticket_number(app_server, ticket_id)

    tab = screen(locale)
    page = tab.page
    tab.login(ANNA)
    open_tab(tab, "all", locale)
    expect(tab.card(ticket_id)).to_be_visible()
    page.wait_for_selector("html[data-live-state=connected]", state="attached")
    page.evaluate("window.__sameDocument = true")

    app_server.api(DISPATCHER).transition(ticket_id, "Закрыть")

    expect(tab.card(ticket_id)).to_have_count(0)  # the open list updated itself
    assert page.evaluate("window.__sameDocument") is True  # no reload
    assert number not in expected_numbers(app_server, ANNA, "all")
    open_tab(tab, "archive", locale)
    numbers = tab.card_numbers()
    assert numbers[0] == number  # newest closing first
    assert numbers == expected_numbers(app_server, ANNA, "archive")
    expect(tab.card(ticket_id).locator("[data-testid=card-status]")).to_have_text("Закрыта")
    open_tab(tab, "mine", locale)
    assert number not in tab.card_numbers()


def test_show_more_appends_the_next_page(screen: ScreenFactory, app_server: AppServer) -> None:
    """Keyset paging: «Показать ещё» appends the next page in place; no page numbers anywhere."""
    customer = customer_with_password(app_server, "Много-заявок-1")
    assert customer.email is not None
    app_server.api(customer.email, "Много-заявок-1")
    ids = [app_server.new_ticket(customer.email, f"Заявка для листания {i}") for i in range(PAGE_SIZE + 3)]
    tab = screen()
    tab.login(customer.email, "Много-заявок-1")
    page = tab.page
    newest_first = [ticket_number(app_server, i) for i in reversed(ids)]
    assert tab.card_numbers() == newest_first[:PAGE_SIZE]
    more = page.locator("[data-testid=load-more]")
    expect(more).to_have_attribute("href", re.compile(r"cursor="))
    page.evaluate("window.__sameDocument = true")
    more.click()
    expect(page.locator("[data-testid=ticket-card]")).to_have_count(len(ids))
    assert tab.card_numbers() == newest_first
    assert page.evaluate("window.__sameDocument") is True
    expect(more).to_have_count(0)
