"""Browser: a customer of «Аптека Здоровье» reaches nothing of «Кафе Ромашка» by any URL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from support import (
    ANNA,
    DISPATCHER,
    ZAKHAR,
    AppServer,
    Screen,
    ScreenFactory,
    app_server,
    browser,
    expect,
    screen,
    ticket_ids_of_company,
    ticket_number,
)

from fixflow.objects.models import ServiceObject
from fixflow.tickets.models import Favorite

pytestmark = pytest.mark.browser
__all__ = ["app_server", "browser", "screen"]  # fixtures, imported for pytest

CAFE = "Кафе Ромашка"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6d8a90000000049454e44ae426082"
)


def assert_not_found(tab: Screen, path: str) -> None:
    response = tab.page.goto(path)
    assert response is not None and response.status == 404, f"{path}: {response and response.status}"
    expect(tab.page.locator("[data-testid=error-page]")).to_have_attribute("data-status", "404")


def cafe_objects(server: AppServer) -> tuple[int, int]:
    """(a site, a piece of equipment under it) of the café."""
    with server.session() as session:
        equipment = session.scalar(
            select(ServiceObject)
            .where(ServiceObject.company_id == server.company_id(CAFE), ServiceObject.parent_id.is_not(None))
            .order_by(ServiceObject.id)
            .limit(1)
        )
        assert equipment is not None and equipment.parent_id is not None
        return equipment.parent_id, equipment.id


def cafe_ticket_with_a_photo(server: AppServer) -> tuple[int, int]:
    ticket_id = server.new_ticket(ANNA, "Фото протечки")
    anna = server.api(ANNA)
    upload = anna.call("POST", "/attachments", expect=201, files={"file": ("leak.png", PNG, "image/png")})
    anna.call("POST", f"/tickets/{ticket_id}/attachments", json={"attachment_ids": [upload["id"]]})
    return ticket_id, int(upload["id"])


def test_pharmacy_customer_reaches_nothing_of_the_cafe(screen: ScreenFactory, app_server: AppServer) -> None:
    ticket_id, attachment_id = cafe_ticket_with_a_photo(app_server)
    site_id, equipment_id = cafe_objects(app_server)
    qr = app_server.api(DISPATCHER).call("POST", f"/objects/{equipment_id}/qr", expect=201, json={})
    qr_path = "/q/" + qr["url"].rsplit("/q/", 1)[1]
    transition_id = app_server.api(ANNA).call("GET", f"/tickets/{ticket_id}/transitions")[0]["id"]

    # The café's own customer does reach all of it (so the 404s below are about visibility).
    anna = screen(label="anna")
    anna.login(ANNA)
    anna.page.goto(f"/app/tickets/{ticket_id}")
    expect(anna.page.locator("[data-testid=ticket-files] img")).to_have_count(1)
    anna.page.goto(qr_path)
    expect(anna.page.locator("[data-testid=picked-object]")).to_have_attribute(
        "data-object-id", str(equipment_id)
    )

    tab = screen(label="pharmacy")
    tab.allow_status(404)
    tab.login("+7 (900) 000-00-21")
    page = tab.page
    cafe_tickets = ticket_ids_of_company(app_server, CAFE)
    assert ticket_id in cafe_tickets and len(cafe_tickets) > 10
    for cafe_ticket in cafe_tickets:
        assert_not_found(tab, f"/app/tickets/{cafe_ticket}")
    tab.shot("404")
    for path in (
        f"/app/tickets/{ticket_id}?tab=works",
        f"/app/tickets/{ticket_id}?tab=chat",
        f"/app/tickets/{ticket_id}/rate",
        f"/app/tickets/{ticket_id}/transition/{transition_id}",
        f"/app/files/{attachment_id}",
        f"/app/tickets/new?object={equipment_id}",
        f"/app/tickets/new?object={site_id}",
        f"/app/tickets/new?parent={site_id}",
    ):
        assert_not_found(tab, path)
    fragment = page.request.get(f"/app/tickets/new/tree?parent={site_id}")
    assert fragment.status == 404 and "data-object-id" not in fragment.text()

    # The café's QR code: the create screen says it does not know it.
    response = page.goto(qr_path)
    assert response is not None and response.status == 404
    expect(page.locator("[data-testid=qr-error]")).to_be_visible()
    expect(page.locator("[data-testid=ticket-form]")).to_have_count(0)

    # Forms posted at the café's ticket (with the pharmacy customer's own CSRF token) change nothing.
    page.goto("/app/profile")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    posts = {
        f"/app/tickets/{ticket_id}/favorite": {"action": "add"},
        f"/app/tickets/{ticket_id}/transition": {"transition_id": str(transition_id), "version": "1"},
        f"/app/tickets/{ticket_id}/rate": {"comment": "чужая"},
    }
    for path, form in posts.items():
        answer = page.request.post(path, form={**form, "csrf_token": token}, max_redirects=0)
        assert answer.status == 404, f"{path}: {answer.status}"
    with app_server.session() as session:
        zakhar = app_server.member_id(ZAKHAR)
        assert session.scalar(select(Favorite.ticket_id).where(Favorite.member_id == zakhar)) is None
    assert app_server.api(ANNA).ticket(ticket_id)["status"]["name"] == "Новая"

    # Lists, search and filters show none of the café's tickets, objects or numbers.
    cafe_numbers = {ticket_number(app_server, t) for t in cafe_tickets}
    for tab_name in ("mine", "approval", "all", "favorites", "archive"):
        page.goto(f"/app/tickets?tab={tab_name}")
        assert not cafe_numbers & set(tab.card_numbers()), tab_name
        expect(page.locator("[data-testid=ticket-list]")).not_to_contain_text("Ромашка")
        expect(page.locator("#f-object")).not_to_contain_text("Кафе")
    page.goto("/app/tickets?tab=all&q=" + ticket_number(app_server, ticket_id))
    expect(page.locator("[data-testid=empty-list]")).to_be_visible()
    page.goto(f"/app/tickets?tab=all&object={equipment_id}")
    assert tab.card_numbers() == []
    page.goto("/app/tickets/new?q=" + "Цветочн")
    expect(page.locator("[data-testid=object-tree]")).to_have_count(0)
    page.goto("/app/tickets/new")
    expect(page.locator("[data-testid=object-tree]")).not_to_contain_text("Кафе")
    expect(page.locator("[data-testid=object-tree]")).to_contain_text(re.compile("Аптека"))
