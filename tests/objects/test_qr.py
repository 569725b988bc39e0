"""QR codes of objects: issuing, resolving through visibility, revoking, the SVG and the /q/ link."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from builders import World, login, make_world
from fixflow.accounts.models import Member
from fixflow.accounts.service import issue_session
from fixflow.catalogs.models import TicketType, WorkType
from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.core.errors import Forbidden, NotFound, ValidationFailed
from fixflow.objects.models import ServiceObject
from fixflow.objects.models_qr import ObjectQrCode
from fixflow.objects.qr import create_qr, current_qr, qr_link, qr_svg, resolve_qr, revoke_qr


def test_staff_issue_unguessable_codes_bound_to_a_template(session: Session, sworld: World) -> None:
    actor = sworld.dispatcher.actor
    first = create_qr(
        session, actor, sworld.site_a, ticket_type_id=sworld.type_id, work_type_id=sworld.work_type_id
    )
    second = create_qr(session, actor, sworld.site_a)
    assert first.token != second.token
    assert len(first.token) >= 22  # ≥ 128 bits in URL-safe base64
    assert (first.tenant_id, first.object_id, first.ticket_type_id) == (
        sworld.tenant_id,
        sworld.site_a,
        sworld.type_id,
    )
    assert resolve_qr(session, sworld.customer_a.actor, first.token) == (
        sworld.site_a,
        sworld.type_id,
        sworld.work_type_id,
    )
    assert resolve_qr(session, sworld.customer_a.actor, second.token) == (sworld.site_a, None, None)


def test_customers_cannot_issue_codes(session: Session, sworld: World) -> None:
    with pytest.raises(Forbidden):
        create_qr(session, sworld.customer_a.actor, sworld.site_a)
    with pytest.raises(NotFound):  # not even visible: 404 before 403
        create_qr(session, sworld.customer_a.actor, sworld.site_b)


def test_template_must_fit_the_object_and_the_tenant(session: Session, sworld: World) -> None:
    actor = sworld.dispatcher.actor
    other = make_world(session)
    foreign_type = session.scalars(select(TicketType).where(TicketType.tenant_id == other.tenant_id)).first()
    assert foreign_type is not None
    with pytest.raises(ValidationFailed) as failed:
        create_qr(session, actor, sworld.site_a, ticket_type_id=foreign_type.id)
    assert [e.field for e in failed.value.errors] == ["ticket_type_id"]
    obj = session.get(ServiceObject, sworld.site_a)
    assert obj is not None
    obj.allowed_work_type_ids = []
    session.flush()
    with pytest.raises(ValidationFailed) as failed:
        create_qr(session, actor, sworld.site_a, work_type_id=sworld.work_type_id)
    assert [e.field for e in failed.value.errors] == ["work_type_id"]
    unpublished = session.get(WorkType, sworld.work_type_id)
    assert unpublished is not None
    unpublished.published = False
    session.flush()
    with pytest.raises(ValidationFailed):
        create_qr(session, actor, sworld.site_b, work_type_id=sworld.work_type_id)


def test_resolving_answers_404_unless_the_scanner_may_see_the_object(session: Session, sworld: World) -> None:
    code = create_qr(session, sworld.dispatcher.actor, sworld.objects_a[1])
    other = make_world(session)
    assert resolve_qr(session, sworld.cadmin_a.actor, code.token)[0] == sworld.objects_a[1]
    for stranger in (
        sworld.customer_b.actor,
        sworld.cadmin_b.actor,
        other.customer_a.actor,
        other.owner.actor,
    ):
        with pytest.raises(NotFound):
            resolve_qr(session, stranger, code.token)
    for junk in ("", "x" * 24, "../../etc/passwd", code.token + "x"):
        with pytest.raises(NotFound):
            resolve_qr(session, sworld.customer_a.actor, junk)
    obj = session.get(ServiceObject, sworld.objects_a[1])
    assert obj is not None
    obj.published = False
    session.flush()
    with pytest.raises(NotFound):
        resolve_qr(session, sworld.customer_a.actor, code.token)


def test_revoked_codes_stop_working(session: Session, sworld: World) -> None:
    code = create_qr(session, sworld.dispatcher.actor, sworld.site_a)
    revoke_qr(session, sworld.dispatcher.actor, sworld.site_a, code.id)
    revoke_qr(session, sworld.dispatcher.actor, sworld.site_a, code.id)  # idempotent
    with pytest.raises(NotFound):
        resolve_qr(session, sworld.customer_a.actor, code.token)
    with pytest.raises(NotFound):  # a code id of another object
        other_code = create_qr(session, sworld.dispatcher.actor, sworld.site_b)
        revoke_qr(session, sworld.dispatcher.actor, sworld.site_a, other_code.id)


def test_current_code_is_created_for_staff_only(session: Session, sworld: World) -> None:
    with pytest.raises(NotFound):
        current_qr(session, sworld.customer_a.actor, sworld.site_a)
    code = current_qr(session, sworld.dispatcher.actor, sworld.site_a)
    assert current_qr(session, sworld.dispatcher.actor, sworld.site_a).id == code.id
    assert current_qr(session, sworld.customer_a.actor, sworld.site_a).id == code.id
    newer = create_qr(session, sworld.dispatcher.actor, sworld.site_a, ticket_type_id=sworld.type_id)
    assert current_qr(session, sworld.customer_a.actor, sworld.site_a).id == newer.id


# -- HTTP ----------------------------------------------------------------------------------------


def test_api_issue_render_resolve_revoke(client: TestClient, world: World, settings: Settings) -> None:
    staff, customer_a, customer_b = (
        login(client, world.dispatcher),
        login(client, world.customer_a),
        login(client, world.customer_b),
    )
    response = client.post(
        f"/api/v1/objects/{world.site_a}/qr", json={"ticket_type_id": world.type_id}, headers=staff
    )
    assert response.status_code == 201, response.text
    code: dict[str, Any] = response.json()
    assert code["url"] == f"{settings.base_url}/q/{code['token']}"
    assert code["ticket_type_id"] == world.type_id and code["work_type_id"] is None

    svg = client.get(f"/api/v1/objects/{world.site_a}/qr.svg", headers=customer_a)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content == qr_svg(qr_link(settings.base_url, code["token"]))  # encodes the /q/ link

    template = client.get(f"/api/v1/qr/{code['token']}", headers=customer_a)
    assert template.json() == {
        "object_id": world.site_a,
        "ticket_type_id": world.type_id,
        "work_type_id": None,
    }
    assert client.get(f"/api/v1/qr/{code['token']}", headers=customer_b).status_code == 404
    assert client.post(f"/api/v1/objects/{world.site_a}/qr", json={}, headers=customer_a).status_code == 403
    assert client.post(f"/api/v1/objects/{world.site_a}/qr", json={"x": 1}, headers=staff).status_code == 422
    assert [c["id"] for c in client.get(f"/api/v1/objects/{world.site_a}/qr", headers=staff).json()] == [
        code["id"]
    ]

    assert client.delete(f"/api/v1/objects/{world.site_a}/qr/{code['id']}", headers=staff).status_code == 204
    assert client.get(f"/api/v1/qr/{code['token']}", headers=customer_a).status_code == 404


def test_api_svg_creates_the_default_code_on_first_staff_request(
    client: TestClient, world: World, database: Database
) -> None:
    customer, staff = login(client, world.customer_a), login(client, world.dispatcher)
    assert client.get(f"/api/v1/objects/{world.site_a}/qr.svg", headers=customer).status_code == 404
    first = client.get(f"/api/v1/objects/{world.site_a}/qr.svg", headers=staff)
    assert first.status_code == 200
    assert client.get(f"/api/v1/objects/{world.site_a}/qr.svg", headers=staff).content == first.content
    assert client.get(f"/api/v1/objects/{world.site_a}/qr.svg", headers=customer).content == first.content
    with database.session() as s:
        codes = s.scalars(select(ObjectQrCode).where(ObjectQrCode.object_id == world.site_a)).all()
        assert [(c.ticket_type_id, c.work_type_id) for c in codes] == [(None, None)]
    assert client.get(f"/api/v1/objects/{world.site_b}/qr.svg", headers=customer).status_code == 404


def test_q_link_opens_ticket_creation_or_login_first(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        token = create_qr(s, world.dispatcher.actor, world.site_a).token
        member = s.get(Member, world.customer_a.id)
        assert member is not None
        cookie = issue_session(s, Settings(env="test"), member, kind="web").token

    anonymous = client.get(f"/q/{token}", follow_redirects=False)
    assert anonymous.status_code == 303
    location = urlsplit(anonymous.headers["location"])
    assert location.path == "/app/login"
    assert parse_qs(location.query)["next"] == [f"/app/tickets/new?qr={token}"]

    client.cookies.set("fixflow_session", cookie)
    signed_in = client.get(f"/q/{token}", follow_redirects=False)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, f"/app/tickets/new?qr={token}")
    junk = client.get("/q/%3Cscript%3E", follow_redirects=False)
    assert junk.headers["location"] == "/app/tickets/new"
