"""The ticket profile: details, «⋯» favourites, transitions (with and without a comment), rating."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from webtools import card_numbers, csrf, find, find_all, web_login

from builders import World, add_some_work, fire, make_ticket, ticket_in_stage
from fixflow.core.db import Database
from fixflow.ratings.models import Rating
from fixflow.tickets.models import Favorite, Ticket
from fixflow.tickets.transitions import available_transitions_for
from fixflow.workflow.models import Stage


def stage_of(database: Database, ticket_id: int) -> str:
    with database.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        stage = s.get(Stage, ticket.stage_id)
        assert stage is not None
        return stage.name


def buttons(html: str) -> dict[str, Any]:
    return {b.text: b for b in find_all(html, data_testid="transition-button")}


def test_profile_shows_the_ticket(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "В работе")
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}")
    assert page.status_code == 200
    profile = find(page.text, id=f"ticket-{ticket.id}")
    assert profile["data-live"] == f"ticket:{ticket.id}"
    assert find(page.text, data_testid="ticket-number").text == f"№ {ticket.number}"
    assert find(page.text, data_testid="ticket-status").text == "В работе"
    assert find(page.text, data_testid="object-path").text == "Site A › Pump A"
    assert find(page.text, data_testid="map-link")["href"] == "https://yandex.ru/maps/?text=Addr%20A"
    assert "Executor Test" in find(page.text, data_testid="executor").text
    assert find(page.text, data_testid="description").text == "Broken pump"
    timeline = [li.text for li in find_all(page.text, class_="timeline__status")]
    assert timeline == ["В работе", "Новая"]  # status changes only, newest first; never stage names
    assert "Принята" not in page.text and "Назначена" not in page.text
    tabs = [a.text for a in find_all(page.text, class_="segmented__item")]
    assert tabs == ["Заявка", "Сообщения", "Выполнение", "Акт"]
    assert "ticket.create" not in page.text


def test_tabs_works_chat_and_act(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "В работе")
        add_some_work(s, world, ticket)
    web_login(client, world.customer_a)
    works = client.get(f"/app/tickets/{ticket.id}?tab=works").text
    assert find(works, data_testid="tab-works")["aria-current"] == "page"
    assert "Executor Test" in find(works, data_testid="works").text
    assert find(client.get(f"/app/tickets/{ticket.id}?tab=chat").text, data_testid="chat-placeholder")
    assert find(client.get(f"/app/tickets/{ticket.id}?tab=act").text, data_testid="act-placeholder")


def test_favourite_add_and_remove_from_the_menu(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    url = f"/app/tickets/{ticket.id}"
    page = client.get(url).text
    menu = find(page, data_testid="more-menu")
    assert "Добавить в избранное" in menu.text
    for _ in range(2):  # idempotent
        added = client.post(
            f"{url}/favorite", data={"action": "add", "csrf_token": csrf(page)}, follow_redirects=False
        )
        assert added.status_code == 303 and added.headers["location"] == f"{url}?done=favorite_added"
    page = client.get(added.headers["location"]).text
    assert find(page, data_testid="flash").text == "Добавлено в избранное."
    assert find(page, data_testid="favorite-remove").text == "Удалить из избранного"
    assert card_numbers(client.get("/app/tickets?tab=favorites").text) == [ticket.number]
    with database.session() as s:
        assert len(s.scalars(select(Favorite).where(Favorite.ticket_id == ticket.id)).all()) == 1
    removed = client.post(
        f"{url}/favorite", data={"action": "remove", "csrf_token": csrf(page)}, follow_redirects=False
    )
    assert removed.status_code == 303
    assert find(client.get(url).text, data_testid="favorite-add")
    assert card_numbers(client.get("/app/tickets?tab=favorites").text) == []


def test_cancel_without_comment_moves_the_ticket_to_the_archive(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}").text
    cancel = buttons(page)["Отменить заявку"]
    assert cancel.tag == "button"
    response = client.post(
        f"/app/tickets/{ticket.id}/transition",
        data={"transition_id": cancel["data-transition-id"], "version": "1", "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/app/tickets/{ticket.id}"
    assert stage_of(database, ticket.id) == "Отказ заказчика"
    assert card_numbers(client.get("/app/tickets?tab=mine").text) == []
    assert card_numbers(client.get("/app/tickets?tab=archive").text) == [ticket.number]
    assert not find_all(client.get(f"/app/tickets/{ticket.id}").text, data_testid="transition-button")


def test_a_transition_that_needs_a_comment_asks_for_it(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Работы выполнены")
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}").text
    offered = buttons(page)
    assert set(offered) == {"Принять работы", "Не принимать работы"}
    reject = offered["Не принимать работы"]
    assert reject.tag == "a"  # without JavaScript it opens the comment step as a page
    dialog = find(page, id=reject["data-dialog"])
    assert dialog.tag == "dialog" and find(page, tag="textarea", name="comment")
    step = client.get(reject["href"])
    assert step.status_code == 200
    form = find(step.text, data_testid="transition-form")
    assert form["action"] == f"/app/tickets/{ticket.id}/transition"
    data = {
        "transition_id": reject["data-transition-id"],
        "version": str(ticket.version),
        "csrf_token": csrf(page),
    }
    missing = client.post(f"/app/tickets/{ticket.id}/transition", data=data | {"comment": "  "})
    assert missing.status_code == 422
    assert find(missing.text, data_testid="field-error-comment").text == "Укажите причину"
    assert stage_of(database, ticket.id) == "Работы выполнены"
    done = client.post(
        f"/app/tickets/{ticket.id}/transition",
        data=data | {"comment": "Протекает снова"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert stage_of(database, ticket.id) == "В работе"
    assert (
        find(client.get(f"/app/tickets/{ticket.id}").text, data_testid="ticket-status").text == "На доработке"
    )


def test_a_stale_version_keeps_the_typed_comment(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Работы выполнены")
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}").text
    reject = buttons(page)["Не принимать работы"]
    stale = client.post(
        f"/app/tickets/{ticket.id}/transition",
        data={
            "transition_id": reject["data-transition-id"],
            "version": str(ticket.version - 1),
            "comment": "Мой длинный комментарий",
            "csrf_token": csrf(page),
        },
    )
    assert stale.status_code == 409
    assert find(stale.text, data_testid="form-error").text == "Заявка изменилась, обновите"
    assert find(stale.text, tag="textarea", name="comment").text == "Мой длинный комментарий"
    assert find(stale.text, tag="input", name="version")["value"] == str(ticket.version)
    assert stage_of(database, ticket.id) == "Работы выполнены"


def test_a_transition_not_offered_is_refused(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        offered = available_transitions_for(s, world.dispatcher.actor, ticket)
        assign_id = next(t.id for t in offered if t.label == "Назначить")
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}").text
    refused = client.post(
        f"/app/tickets/{ticket.id}/transition",
        data={"transition_id": str(assign_id), "version": "1", "csrf_token": csrf(page)},
    )
    assert refused.status_code == 403
    assert find(refused.text, data_testid="form-error").text == "Это действие с заявкой вам недоступно"
    assert stage_of(database, ticket.id) == "Новая"


def test_rating_banner_form_and_change(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена")
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}").text
    banner = find(page, data_testid="rate-banner")
    assert (
        banner.text == "Оцените качество исполнения заявки"
        and banner["href"] == f"/app/tickets/{ticket.id}/rate"
    )
    form_page = client.get(banner["href"]).text
    radios = find_all(form_page, tag="input", type="radio")
    criteria = sorted({r["name"] for r in radios})
    assert len(criteria) >= 2 and len(radios) == 5 * len(criteria)
    assert "Качество выполненных работ" in form_page and "Оперативность" in form_page
    token = csrf(form_page)
    partial = client.post(
        banner["href"], data={criteria[0]: "5", "comment": "Быстро и чисто", "csrf_token": token}
    )
    assert partial.status_code == 422
    assert find(partial.text, data_testid=f"field-error-{criteria[1].replace('score', 'scores')}").text == (
        "Оцените этот критерий"
    )
    assert find(partial.text, tag="textarea", name="comment").text == "Быстро и чисто"
    assert "checked" in find(partial.text, tag="input", name=criteria[0], value="5").attrs
    out_of_range = client.post(banner["href"], data={criteria[0]: "9", criteria[1]: "3", "csrf_token": token})
    assert out_of_range.status_code == 422
    rated = client.post(
        banner["href"],
        data={criteria[0]: "5", criteria[1]: "4", "comment": "Быстро и чисто", "csrf_token": token},
        follow_redirects=False,
    )
    assert rated.status_code == 303
    after = client.get(rated.headers["location"]).text
    assert find(after, data_testid="flash").text == "Спасибо! Оценка сохранена."
    assert not find_all(after, data_testid="rate-banner")
    mine = find(after, data_testid="my-rating")
    assert "Быстро и чисто" in mine.text and "Изменить оценку" in mine.text
    assert "5 из 5 звёзд" in after and "4 из 5 звёзд" in after
    again = client.get(banner["href"]).text
    assert "checked" in find(again, tag="input", name=criteria[1], value="4").attrs
    client.post(banner["href"], data={criteria[0]: "2", criteria[1]: "2", "csrf_token": token})
    with database.session() as s:
        ratings = s.scalars(select(Rating).where(Rating.ticket_id == ticket.id)).all()
    assert len(ratings) == 1 and ratings[0].score == 2


def test_rating_is_not_offered_before_the_work_is_done(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    assert not find_all(client.get(f"/app/tickets/{ticket.id}").text, data_testid="rate-banner")
    response = client.get(f"/app/tickets/{ticket.id}/rate", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/app/tickets/{ticket.id}"


def test_closing_moves_the_ticket_to_the_archive(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена")
    web_login(client, world.customer_a)
    assert card_numbers(client.get("/app/tickets?tab=mine").text) == [ticket.number]
    with database.session(write=True) as s:
        fresh = s.get(Ticket, ticket.id)
        assert fresh is not None
        fire(s, world, fresh, "dispatcher", "Закрыть")
    assert card_numbers(client.get("/app/tickets?tab=mine").text) == []
    assert card_numbers(client.get("/app/tickets?tab=all").text) == []
    assert card_numbers(client.get("/app/tickets?tab=archive").text) == [ticket.number]


def test_another_company_gets_404_for_the_ticket(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена")
    web_login(client, world.customer_b)
    for url in (
        f"/app/tickets/{ticket.id}",
        f"/app/tickets/{ticket.id}/rate",
        f"/app/tickets/{ticket.id}/transition/1",
        "/app/tickets/999999999",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert find(response.text, data_testid="error-page")["data-status"] == "404"
        assert ticket.number not in response.text
    page = client.get("/app/profile").text
    for action, data in (
        ("favorite", {"action": "add"}),
        ("transition", {"transition_id": "1", "version": "1"}),
    ):
        refused = client.post(f"/app/tickets/{ticket.id}/{action}", data=data | {"csrf_token": csrf(page)})
        assert refused.status_code == 404
    with database.session() as s:
        assert s.scalars(select(Favorite).where(Favorite.ticket_id == ticket.id)).all() == []


def test_a_forged_form_changes_nothing(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
    web_login(client, world.customer_a)
    page = client.get(f"/app/tickets/{ticket.id}").text
    cancel = buttons(page)["Отменить заявку"]
    forged = client.post(
        f"/app/tickets/{ticket.id}/transition",
        data={"transition_id": cancel["data-transition-id"], "version": "1", "csrf_token": "forged"},
    )
    assert forged.status_code == 403
    assert stage_of(database, ticket.id) == "Новая"
    assert client.post(f"/app/tickets/{ticket.id}/favorite", data={"action": "add"}).status_code == 403


def test_english_locale_renders_english(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        ticket = ticket_in_stage(s, world, "Выполнена")
    web_login(client, world.customer_a)
    page = client.get("/app/profile").text
    client.post("/app/profile/language", data={"lang": "en", "csrf_token": csrf(page)})
    profile = client.get(f"/app/tickets/{ticket.id}").text
    assert '<html lang="en">' in profile
    assert find(profile, data_testid="rate-banner").text == "Rate the quality of the work on this ticket"
    assert [a.text for a in find_all(profile, class_="segmented__item")] == [
        "Ticket",
        "Messages",
        "Works",
        "Act",
    ]
    assert "Add to favourites" in find(profile, data_testid="more-menu").text
    lists = client.get("/app/tickets").text
    assert [t.text for t in find_all(lists, class_="tabbar__label")] == [
        "Mine",
        "Approval",
        "All",
        "Favourites",
        "Archive",
    ]
    assert "Показать" not in lists and "Фильтры" not in lists
