"""Every screen renders for a customer and for staff (who use the same screens)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from webtools import card_numbers, find, find_all, web_login

from builders import World, make_ticket, ticket_in_stage
from fixflow.core.db import Database


def screens(world: World, ticket_id: int, done_id: int) -> list[str]:
    return [
        "/app/tickets",
        "/app/tickets?tab=approval",
        "/app/tickets?tab=all",
        "/app/tickets?tab=favorites",
        "/app/tickets?tab=archive",
        f"/app/tickets/{ticket_id}",
        f"/app/tickets/{ticket_id}?tab=chat",
        f"/app/tickets/{ticket_id}?tab=works",
        f"/app/tickets/{ticket_id}?tab=act",
        f"/app/tickets/{done_id}",
        "/app/tickets/new",
        f"/app/tickets/new?parent={world.site_a}",
        f"/app/tickets/new?object={world.objects_a[1]}",
        "/app/tickets/new?q=pump",
        "/app/profile",
    ]


def test_every_screen_renders_for_a_customer(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        done = ticket_in_stage(s, world, "Выполнена")
    web_login(client, world.customer_a)
    for url in [*screens(world, ticket.id, done.id), f"/app/tickets/{done.id}/rate"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:2000])
        assert response.headers["content-type"].startswith("text/html")


def test_staff_see_the_same_screens(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        other = make_ticket(s, world, by="customer_b")
        done = ticket_in_stage(s, world, "Выполнена")
    web_login(client, world.dispatcher)
    for url in screens(world, ticket.id, done.id):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:2000])
    assert set(card_numbers(client.get("/app/tickets?tab=all").text)) >= {ticket.number, other.number}
    picker = client.get("/app/tickets/new").text
    roots = {int(n["data-object-id"]) for n in find_all(picker, class_="tree-node")}
    assert {world.site_a, world.site_b} <= roots
    page = client.get(f"/app/tickets/{ticket.id}").text
    assert "Назначить" in [b.text for b in find_all(page, data_testid="transition-button")]
    assert find(page, data_testid="ticket-status").text == "Новая"


def test_hot_pages_come_first_and_answer_like_every_page(
    client: TestClient, world: World, database: Database
) -> None:
    """The lists and the ticket profile are plain routes ahead of every router (webapp.web.page_route),
    with the same answers as the other pages: login redirects, HTML errors (405 included)."""
    from starlette.routing import Route

    first = client.app.router.routes[:2]  # type: ignore[attr-defined]
    assert all(type(route) is Route for route in first)
    assert {route.path for route in first} == {"/app/tickets", "/app/tickets/{ticket_id:int}"}
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        theirs = make_ticket(s, world, by="customer_b", object_id=world.objects_b[1])
    anonymous = client.get(f"/app/tickets/{ticket.id}?tab=works", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/app/login?next=/app/tickets/{ticket.id}%3Ftab%3Dworks"
    wrong_method = client.post("/app/tickets")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("text/html")
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert "Эту страницу нельзя открыть таким способом" in wrong_method.text
    logout_by_address = client.get("/app/logout")
    assert logout_by_address.status_code == 405 and "нельзя открыть" in logout_by_address.text
    web_login(client, world.customer_a)
    assert client.head("/app/tickets").status_code == 200
    hidden = client.get(f"/app/tickets/{theirs.id}")
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith("text/html")
    assert client.get("/app/tickets/not-a-number").status_code == 404
    assert find(client.get(f"/app/tickets/{ticket.id}").text, data_testid="ticket-number")
