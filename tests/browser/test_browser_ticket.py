"""Browser: the ticket profile — transitions offered to the customer, approval, rating — and
«Новая заявка» (object tree, validation that keeps what was typed, success)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from support import (
    ANNA,
    DISPATCHER,
    EXECUTOR,
    AppServer,
    Screen,
    ScreenFactory,
    app_server,
    browser,
    expect,
    expected_numbers,
    screen,
    ticket_number,
    tr,
)

from fixflow.objects.models import ServiceObject
from fixflow.ratings.service import active_criteria
from fixflow.tickets.models import Ticket

pytestmark = pytest.mark.browser
__all__ = ["app_server", "browser", "screen"]  # fixtures, imported for pytest

LOCALES = pytest.mark.parametrize("locale", ["ru", "en"])
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6d8a90000000049454e44ae426082"
)

# Whether an <img> loads: waits for it if it is still on its way (under load it may be).
IMAGE_LOADED = """img => img.complete ? img.naturalWidth > 0 : new Promise(done => {
    img.addEventListener("load", () => done(img.naturalWidth > 0));
    img.addEventListener("error", () => done(false));
})"""


def buttons(tab: Screen) -> list[str]:
    return [
        " ".join(t.split())
        for t in tab.page.locator(
            "[data-testid=transitions] [data-testid=transition-button]"
        ).all_inner_texts()
    ]


def offered_to(server: AppServer, login: str, ticket_id: int) -> list[str]:
    return [t["label"] for t in server.api(login).call("GET", f"/tickets/{ticket_id}/transitions")]


def open_ticket(tab: Screen, ticket_id: int) -> None:
    tab.page.goto(f"/app/tickets/{ticket_id}")
    expect(tab.page.locator("[data-testid=ticket-number]")).to_contain_text(
        ticket_number(tab.server, ticket_id)
    )


@LOCALES
def test_customer_accepts_the_work(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Гудит холодильник ({locale})")
    app_server.drive(ticket_id, "Работы выполнены")
    tab = screen(locale)
    tab.login(ANNA)
    open_ticket(tab, ticket_id)
    page = tab.page
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("Ожидает приёмки")
    assert sorted(buttons(tab)) == sorted(offered_to(app_server, ANNA, ticket_id))
    assert {"Принять работы", "Не принимать работы"} <= set(buttons(tab))
    page.click("[data-testid=tab-works]")
    expect(page.locator("[data-testid=works]")).to_contain_text("Заменён датчик")
    page.click("[data-testid=tab-ticket]")
    if locale == "ru":
        tab.shot("profile")

    page.get_by_role("button", name="Принять работы").click()
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("Выполнена")
    expect(page.locator("[data-testid=rate-banner]")).to_contain_text(
        tr(locale, "Оцените качество", "Rate the quality")
    )
    expect(page.locator("[data-testid=timeline]")).to_contain_text("Выполнена")
    assert buttons(tab) == offered_to(app_server, ANNA, ticket_id)


@LOCALES
def test_not_accepting_the_work_asks_for_a_comment(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Капает с потолка ({locale})")
    app_server.drive(ticket_id, "Работы выполнены")
    tab = screen(locale)
    tab.login(ANNA)
    open_ticket(tab, ticket_id)
    page = tab.page
    page.get_by_role("link", name="Не принимать работы").click()
    dialog = page.locator("[data-testid=comment-dialog]:visible")
    expect(dialog).to_be_visible()
    dialog.locator("[data-testid=transition-submit]").click()  # empty: the browser asks for it
    expect(dialog).to_be_visible()
    assert app_server.api(ANNA).ticket(ticket_id)["status"]["name"] == "Ожидает приёмки"
    dialog.locator("textarea[name=comment]").fill("Капает по-прежнему")
    tab.shot("dialog")
    dialog.locator("[data-testid=transition-submit]").click()
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("На доработке")
    history = app_server.api(DISPATCHER).call("GET", f"/tickets/{ticket_id}/history")
    assert any(entry.get("comment") == "Капает по-прежнему" for entry in history)


def test_not_accepting_without_javascript_dialog_keeps_the_page_form(
    screen: ScreenFactory, app_server: AppServer
) -> None:
    """The comment step as a page (the dialog's fallback): a missing comment is explained there."""
    ticket_id = app_server.new_ticket(ANNA, "Не работает кнопка")
    app_server.drive(ticket_id, "Работы выполнены")
    transition_id = next(
        t["id"]
        for t in app_server.api(ANNA).call("GET", f"/tickets/{ticket_id}/transitions")
        if t["label"] == "Не принимать работы"
    )
    tab = screen()
    tab.allow_status(422)
    tab.login(ANNA)
    page = tab.page
    page.goto(f"/app/tickets/{ticket_id}/transition/{transition_id}")
    page.locator("#comment").evaluate("el => el.removeAttribute('required')")
    page.click("[data-testid=transition-submit]")
    expect(page.locator("[data-testid=field-error-comment]")).to_be_visible()
    page.fill("#comment", "Кнопка заедает")
    page.click("[data-testid=transition-submit]")
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("На доработке")


@LOCALES
def test_customer_cancels_a_new_ticket(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Ошибка по ошибке ({locale})")
    tab = screen(locale)
    tab.login(ANNA)
    open_ticket(tab, ticket_id)
    page = tab.page
    assert buttons(tab) == offered_to(app_server, ANNA, ticket_id) == ["Отменить заявку"]
    page.get_by_role("button", name="Отменить заявку").click()
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("Отказ заказчика")
    expect(page.locator("[data-testid=transitions]")).to_have_count(0)
    assert ticket_number(app_server, ticket_id) in expected_numbers(app_server, ANNA, "archive")


@LOCALES
def test_approval_from_the_approval_tab(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Нужна замена компрессора ({locale})")
    app_server.drive(ticket_id, "В работе")
    app_server.api(DISPATCHER).update(ticket_id, approver_member_id=app_server.member_id(ANNA))
    app_server.api(EXECUTOR).transition(ticket_id, "На согласование")
    number = ticket_number(app_server, ticket_id)

    tab = screen(locale)
    tab.login(ANNA)
    page = tab.page
    waiting = expected_numbers(app_server, ANNA, "approval")
    expect(page.locator("[data-testid=approval-count]")).to_contain_text(str(len(waiting)))
    page.click("[data-testid=tab-approval]")
    assert tab.card_numbers() == waiting and number in waiting
    tab.card(ticket_id).click()
    assert sorted(buttons(tab)) == sorted(offered_to(app_server, ANNA, ticket_id))
    page.get_by_role("button", name="Согласовать").click()
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("В работе")
    page.click("[data-testid=back]")
    page.click("[data-testid=tab-approval]")
    assert number not in tab.card_numbers()
    assert tab.card_numbers() == expected_numbers(app_server, ANNA, "approval")


def criteria(server: AppServer) -> list[tuple[int, str]]:
    """The tenant's rating criteria in the order the rating screen lists them."""
    with server.session() as session:
        return [(c.id, c.name) for c in active_criteria(session, server.demo_tenant_id())]


@LOCALES
def test_rating_by_stars_then_shown_and_changed(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    ticket_id = app_server.new_ticket(ANNA, f"Не греет пароконвектомат ({locale})")
    app_server.drive(ticket_id, "Работы выполнены")
    app_server.api(ANNA).transition(ticket_id, "Принять работы")
    wanted = criteria(app_server)
    assert {name for _, name in wanted} >= {"Качество выполненных работ", "Оперативность"}

    tab = screen(locale)
    tab.allow_status(422)
    tab.login(ANNA)
    open_ticket(tab, ticket_id)
    page = tab.page
    page.click("[data-testid=rate-banner]")
    form = page.locator("[data-testid=rating-form]")
    expect(form).to_be_visible()
    page.click("[data-testid=rate-submit]")  # no stars yet
    for criterion_id, _ in wanted:
        expect(page.locator(f"[data-testid=field-error-scores\\.{criterion_id}]")).to_be_visible()

    for index, (criterion_id, _) in enumerate(wanted):
        page.click(f"label[for=score-{criterion_id}-{5 - index % 2}]")
    page.fill("#comment", "Быстро и аккуратно")
    page.click("[data-testid=rate-submit]")
    expect(page.locator("[data-testid=flash]")).to_contain_text(tr(locale, "Спасибо", "Thank you"))
    given = page.locator("[data-testid=my-rating]")
    expect(given).to_contain_text("Быстро и аккуратно")
    expect(page.locator("[data-testid=rate-banner]")).to_have_count(0)
    rows = given.locator(".rating-row")
    expect(rows).to_have_count(len(wanted))
    for index, (_, name) in enumerate(wanted):
        expect(rows.nth(index)).to_contain_text(name)
        expect(rows.nth(index).locator(".stars__star--on")).to_have_count(5 - index % 2)
    if locale == "ru":
        tab.shot("given")
    stored = app_server.api(ANNA).call("GET", f"/tickets/{ticket_id}/rating")
    assert stored["comment"] == "Быстро и аккуратно"

    page.click("[data-testid=change-rating]")
    first_id = wanted[0][0]
    expect(page.locator(f"#score-{first_id}-5")).to_be_checked()  # the form shows the given stars
    if locale == "ru":
        tab.shot("form")
    page.click(f"label[for=score-{first_id}-2]")
    page.click("[data-testid=rate-submit]")
    expect(rows.first.locator(".stars__star--on")).to_have_count(2)
    with app_server.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.rating_score is not None


@LOCALES
def test_create_a_ticket(screen: ScreenFactory, app_server: AppServer, locale: str) -> None:
    with app_server.session() as session:
        showcase = session.scalar(select(ServiceObject).where(ServiceObject.name == "Холодильная витрина"))
        assert showcase is not None and showcase.parent_id is not None
        site = session.get(ServiceObject, showcase.parent_id)
        assert site is not None
        showcase_id, site_id, site_name = showcase.id, site.id, site.name
    description = f"Витрина не охлаждает, +12 °C ({locale})"

    tab = screen(locale)
    tab.allow_status(422, 413)
    tab.login(ANNA)
    page = tab.page
    page.click("[data-testid=new-ticket]")
    page.wait_for_url(re.compile(r"/app/tickets/new$"))
    node = page.locator(f"[data-testid=object-tree] > li.tree-node[data-object-id='{site_id}']")
    expect(node).to_contain_text(site_name)
    node.locator("summary").click()  # expands in place (children fetched by app.js)
    leaf = node.locator(f"li.tree-node[data-object-id='{showcase_id}'] [data-testid=pick-object]")
    expect(leaf).to_be_visible()
    if locale == "ru":
        tab.shot("tree")
    leaf.click()
    picked = page.locator("[data-testid=picked-object]")
    expect(picked).to_have_attribute("data-object-id", str(showcase_id))
    expect(picked).to_contain_text(f"{site_name} › Холодильная витрина")

    if locale == "ru":
        page.fill("#description", description)
        tab.shot("form")
        page.fill("#description", "")

    # Nothing typed: the problem is shown next to the description.
    page.click("[data-testid=create-submit]")
    expect(page.locator("[data-testid=field-error-description]")).to_be_visible()

    # A file that is too large: the problem is explained, the description and the object are kept.
    # (Shown at the top of the form, not next to the files field: reported as a product bug.)
    page.fill("#description", description)
    too_big = {
        "name": "big.bin",
        "mimeType": "application/octet-stream",
        "buffer": b"\0" * (1024 * 1024 + 10),
    }
    page.set_input_files("[data-testid=files]", files=[too_big])
    page.click("[data-testid=create-submit]")
    # the size problem stands next to «Фото и файлы», in megabytes like the field's hint
    expect(page.locator("[data-testid=field-error-files]")).to_contain_text(tr(locale, "1 МБ", "1 MB"))
    expect(page.locator("#description")).to_have_value(description)
    expect(page.locator("[data-testid=picked-object]")).to_have_attribute("data-object-id", str(showcase_id))
    if locale == "ru":
        tab.shot("invalid")

    photo = {"name": "vitrina.png", "mimeType": "image/png", "buffer": PNG}
    page.set_input_files("[data-testid=files]", files=[photo])
    page.click("[data-testid=create-submit]")
    expect(page.locator("[data-testid=flash]")).to_contain_text(
        tr(locale, "Заявка создана", "The ticket has been created")
    )
    expect(page.locator("[data-testid=description]")).to_have_text(description)
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("Новая")
    expect(page.locator("[data-testid=object-path]")).to_contain_text("Холодильная витрина")
    thumb = page.locator("[data-testid=ticket-files] img.files__thumb")
    expect(thumb).to_have_count(1)
    assert thumb.evaluate(IMAGE_LOADED)  # served to its owner

    with app_server.session() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.description == description))
        assert ticket is not None
        assert ticket.object_id == showcase_id and ticket.initiator_id == app_server.member_id(ANNA)
    page.click("[data-testid=back]")
    assert ticket.number == tab.card_numbers()[0]  # newest first in «Мои»


def test_an_open_ticket_page_updates_itself(screen: ScreenFactory, app_server: AppServer) -> None:
    """Live updates reach the ticket profile too: the status and the timeline change in place."""
    ticket_id = app_server.new_ticket(ANNA, "Шумит компрессор (живое обновление)")
    tab = screen()
    tab.login(ANNA)
    open_ticket(tab, ticket_id)
    page = tab.page
    expect(page.locator("[data-testid=ticket-status]")).to_have_text("Новая")
    page.wait_for_selector("html[data-live-state=connected]", state="attached")
    page.evaluate("window.__sameDocument = true")

    app_server.drive(ticket_id, "В работе")

    now = app_server.api(ANNA).ticket(ticket_id)["status"]["name"]
    assert now != "Новая"
    expect(page.locator("[data-testid=ticket-status]")).to_have_text(now)
    expect(page.locator("[data-testid=timeline]")).to_contain_text(now)
    assert page.evaluate("window.__sameDocument") is True  # updated without a reload


@LOCALES
def test_a_qr_code_typed_or_followed_opens_the_form_for_its_object(
    screen: ScreenFactory, app_server: AppServer, locale: str
) -> None:
    with app_server.session() as session:
        showcase = session.scalar(select(ServiceObject).where(ServiceObject.name == "Холодильная витрина"))
        assert showcase is not None
        showcase_id = showcase.id
    code = app_server.api(DISPATCHER).call("POST", f"/objects/{showcase_id}/qr", expect=201, json={})
    tab = screen(locale)
    tab.allow_status(404)
    tab.login(ANNA)
    page = tab.page
    page.click("[data-testid=new-ticket]")
    page.fill("[data-testid=qr-input]", "not-a-code")
    page.click("[data-testid=qr-submit]")
    expect(page.locator("[data-testid=qr-error]")).to_be_visible()
    page.fill("[data-testid=qr-input]", code["url"])  # the whole link, as a scanner reads it
    page.click("[data-testid=qr-submit]")
    expect(page.locator("[data-testid=picked-object]")).to_have_attribute("data-object-id", str(showcase_id))
    page.goto(urlsplit(code["url"]).path)  # following the link itself (/q/…)
    expect(page.locator("[data-testid=picked-object]")).to_have_attribute("data-object-id", str(showcase_id))
