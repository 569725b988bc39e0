"""The five tabs with their cards, the approval badge, search, filters and keyset paging (HTML level)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from webtools import card_numbers, find, find_all, web_login

from builders import World, make_ticket, ticket_in_stage
from fixflow.catalogs.models import Criticality, TicketType
from fixflow.core.db import Database
from fixflow.tickets.service import add_favorite
from fixflow.workflow.models import Status


@dataclass
class Tickets:
    mine: str
    colleague: str
    approval: str
    closed: str
    marker: str


@pytest.fixture
def tickets(world: World, database: Database) -> Tickets:
    marker = f"гидрант-{uuid.uuid4().hex[:6]}"
    with database.session(write=True) as s:
        mine = make_ticket(s, world, description=f"Течёт {marker} в подвале")
        colleague = make_ticket(s, world, by="customer_a2", description="Сломан замок")
        approval = ticket_in_stage(s, world, "Согласование", by="customer_a2", approver="customer_a")
        closed = ticket_in_stage(s, world, "Закрыта")
        add_favorite(s, world.customer_a.actor, closed)
        return Tickets(mine.number, colleague.number, approval.number, closed.number, marker)


def _select(html: str, name: str) -> str:
    """The markup of one ``<select>`` of the filter form."""
    return html.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]


def tab(client: TestClient, name: str, **params: str) -> str:
    response = client.get("/app/tickets", params={"tab": name, **params})
    assert response.status_code == 200, response.text
    return str(response.text)


def test_each_tab_shows_its_tickets(client: TestClient, world: World, tickets: Tickets) -> None:
    web_login(client, world.customer_a)
    assert card_numbers(tab(client, "mine")) == [tickets.mine]
    # A plain customer's «Все» is «Мои» plus what waits for their approval (spec: screens 4).
    assert card_numbers(tab(client, "all")) == [tickets.approval, tickets.mine]
    assert card_numbers(tab(client, "approval")) == [tickets.approval]
    assert card_numbers(tab(client, "favorites")) == [tickets.closed]
    assert card_numbers(tab(client, "archive")) == [tickets.closed]


def test_cards_show_status_object_text_date_and_star(
    client: TestClient, world: World, tickets: Tickets
) -> None:
    web_login(client, world.customer_a)
    [card] = find_all(tab(client, "mine"), data_testid="ticket-card")
    assert card["href"].startswith("/app/tickets/")
    assert "Новая" in card.text and "Site A › Pump A" in card.text and tickets.marker in card.text
    page = tab(client, "archive")
    assert find(page, data_testid="card-status").text == "Закрыта"
    assert find(page, data_testid="card-favorite")
    assert find(page, data_testid="card-criticality").text == "Средняя"
    status_class = find(page, data_testid="card-status")["class"]
    assert "c-607d8b" in status_class.split()  # the colour comes from a class, never a style attribute
    assert ".c-607d8b{--c:#607d8b}" in page and "style=" not in page


def test_approval_tab_has_a_count_badge(client: TestClient, world: World, tickets: Tickets) -> None:
    web_login(client, world.customer_a)
    page = tab(client, "mine")
    bar = find(page, id="tab-counts")
    assert bar["data-live"] == "list"
    assert find(page, data_testid="approval-count").text.startswith("1")
    assert find(page, id="ticket-list")["data-live"] == "list"


def test_a_colleagues_admin_sees_the_company(client: TestClient, world: World, tickets: Tickets) -> None:
    web_login(client, world.cadmin_a)
    assert set(card_numbers(tab(client, "all"))) == {tickets.mine, tickets.colleague, tickets.approval}
    assert card_numbers(tab(client, "mine")) == []


def test_digits_alone_search_numbers_anywhere_and_the_text(
    client: TestClient, world: World, database: Database, tickets: Tickets
) -> None:
    """A number with its separator is a prefix search; digits alone find a number by any part of it
    and digits in the description or the address (a room, a house number)."""
    with database.session(write=True) as s:
        room = make_ticket(s, world, description="Не закрывается окно в кабинете 31457").number
    web_login(client, world.customer_a)
    tail = re.split(r"[-/]", tickets.mine)[-1]
    assert tail != tickets.mine, "the world's numbers have a separator"
    assert tickets.mine in card_numbers(tab(client, "all", q=tail))
    assert card_numbers(tab(client, "all", q="31457")) == [room]
    assert card_numbers(tab(client, "all", q=tickets.mine)) == [tickets.mine]  # the whole number
    head = re.split(r"([-/])", tickets.mine)
    prefix = head[0] + head[1]  # "2611-": a prefix of every number of this month
    assert set(card_numbers(tab(client, "all", q=prefix))) >= {tickets.mine, room}


def test_another_company_sees_nothing(client: TestClient, world: World, tickets: Tickets) -> None:
    web_login(client, world.customer_b)
    for name in ("mine", "approval", "all", "favorites", "archive"):
        page = tab(client, name)
        assert card_numbers(page) == [], name
        assert find(page, data_testid="empty-list")
    assert card_numbers(tab(client, "all", q=tickets.marker)) == []
    assert not find_all(tab(client, "mine"), data_testid="approval-count")


def test_search_by_number_and_by_text(client: TestClient, world: World, tickets: Tickets) -> None:
    web_login(client, world.customer_a)
    assert card_numbers(tab(client, "all", q=tickets.mine)) == [tickets.mine]
    assert card_numbers(tab(client, "all", q=tickets.marker.upper())) == [tickets.mine]
    assert card_numbers(tab(client, "all", q="pump a")) == [tickets.approval, tickets.mine]  # object name
    nothing = tab(client, "all", q="no such words")
    assert card_numbers(nothing) == []
    assert "Ничего не найдено" in find(nothing, data_testid="empty-list").text
    assert find(nothing, id="q")["value"] == "no such words"


def test_filters_show_a_dot_and_reset(
    client: TestClient, world: World, tickets: Tickets, database: Database
) -> None:
    with database.session() as s:
        rows = s.execute(select(Status.name, Status.id).where(Status.tenant_id == world.tenant_id))
        statuses = {name: status_id for name, status_id in rows}
    web_login(client, world.customer_a)
    plain = tab(client, "all")
    assert not find_all(plain, data_testid="filter-dot") and not find_all(plain, data_testid="filters-reset")
    filtered = tab(client, "all", status=str(statuses["Согласование"]), q="pump")
    assert card_numbers(filtered) == [tickets.approval]
    assert find(filtered, data_testid="filter-dot")
    selected = find(filtered, tag="option", value=str(statuses["Согласование"]))
    assert "selected" in selected.attrs
    reset = find(filtered, data_testid="filters-reset")["href"]
    assert "status=" not in reset and "tab=all" in reset and "q=pump" in reset
    assert card_numbers(client.get(reset).text) == [tickets.approval, tickets.mine]


def test_filter_by_object_type_criticality_and_period(
    client: TestClient, world: World, tickets: Tickets
) -> None:
    web_login(client, world.customer_a)
    assert card_numbers(tab(client, "all", object=str(world.site_a))) == [tickets.approval, tickets.mine]
    assert card_numbers(tab(client, "all", object=str(world.site_b))) == []
    assert card_numbers(tab(client, "all", type=str(world.type_id))) == [tickets.approval, tickets.mine]
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert card_numbers(tab(client, "all", created_from=tomorrow)) == []
    assert card_numbers(tab(client, "all", created_to=today.isoformat())) == [tickets.approval, tickets.mine]
    assert card_numbers(tab(client, "all", created_from="not a date")) == [tickets.approval, tickets.mine]


def test_filter_choices_are_the_tenants_published_types_and_criticalities(
    client: TestClient, world: World, tickets: Tickets, database: Database
) -> None:
    with database.session(write=True) as s:
        shown = s.get(TicketType, world.type_id)
        assert shown is not None
        hidden = TicketType(
            tenant_id=world.tenant_id,
            name="Снятый с публикации",
            lifecycle_id=shown.lifecycle_id,
            published=False,
        )
        s.add(hidden)
        s.flush()
        hidden_id = hidden.id
        criticalities = [
            c.id
            for c in s.scalars(
                select(Criticality)
                .where(Criticality.tenant_id == world.tenant_id)
                .order_by(Criticality.sort_order, Criticality.id)
            )
        ]
    web_login(client, world.customer_a)
    page = tab(client, "all", type=str(world.type_id))
    types = find_all(_select(page, "type"), tag="option")
    assert [o["value"] for o in types] == ["", str(world.type_id)]  # «Any» and the published type only
    assert "selected" in types[1].attrs
    assert f'value="{hidden_id}"' not in _select(page, "type")
    offered = [o["value"] for o in find_all(_select(page, "criticality"), tag="option")]
    assert offered == ["", *map(str, criticalities)]
    assert len(criticalities) >= 2  # the default tenant's catalogue, in its order


def test_lists_page_by_keyset_with_show_more(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        numbers = [make_ticket(s, world, by="customer_a2").number for _ in range(27)]
    web_login(client, world.customer_a2)
    first = tab(client, "mine")
    assert card_numbers(first) == numbers[::-1][:25]
    more = find(first, data_testid="load-more")["href"]
    assert "cursor=" in more and "tab=mine" in more and "page=" not in more
    second = client.get(more).text
    assert card_numbers(second) == numbers[::-1][25:]
    assert not find_all(second, data_testid="load-more")
    assert find(second, data_testid="list-top")["href"] == "/app/tickets?tab=mine"


def test_unknown_tab_falls_back_to_mine(client: TestClient, world: World, tickets: Tickets) -> None:
    web_login(client, world.customer_a)
    assert card_numbers(tab(client, "bogus")) == [tickets.mine]


def test_a_page_costs_the_same_number_of_queries_whatever_its_size(
    client: TestClient, world: World, database: Database, count_queries: Any
) -> None:
    web_login(client, world.customer_a2)
    with database.session(write=True) as s:
        make_ticket(s, world, by="customer_a2")
    tab(client, "mine")  # warm: tenant configuration is cached per process and version
    with count_queries as one:
        assert len(card_numbers(tab(client, "mine"))) == 1
    small = one.count
    with database.session(write=True) as s:
        for _ in range(20):
            make_ticket(s, world, by="customer_a2")
    with count_queries as many:
        assert len(card_numbers(tab(client, "mine"))) == 21
    assert many.count == small, many.statements
    # One statement: the page, with the tab counters as columns and the remembered sign-in's check;
    # the filter's objects are cached under the configuration version (objects_for_filter).
    assert small == 1, one.statements


def test_the_page_around_the_list_is_nobody_elses(client: TestClient, world: World, tickets: Tickets) -> None:
    # The page around the list is rendered once per shape and reused (core.pageshell): the filter's
    # objects, the badge and the CSP nonce must still be each request's own.
    def object_options(html: str) -> set[str]:
        select = html[html.index('id="f-object"') :]
        return {o["value"] for o in find_all(select[: select.index("</select>")], tag="option") if o["value"]}

    web_login(client, world.customer_a)
    first, again = tab(client, "all"), tab(client, "all")
    nonces = {find(page, tag="style")["nonce"] for page in (first, again)}
    assert len(nonces) == 2
    assert object_options(first) == {str(x) for x in world.objects_a}
    assert find(first, data_testid="approval-count").text.startswith("1")
    client.cookies.clear()
    web_login(client, world.customer_b)
    theirs = tab(client, "all")
    assert object_options(theirs) == {str(x) for x in world.objects_b}
    assert not find_all(theirs, data_testid="approval-count")
    assert find_all(theirs, data_testid="new-ticket") and find_all(first, data_testid="new-ticket")
