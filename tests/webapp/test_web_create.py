"""«Новая заявка»: object picker (tree, search, QR), the form, validation that keeps what was typed."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from webtools import csrf, find, find_all, web_login

from builders import World
from fixflow.accounts.models import Role
from fixflow.attachments.models import Attachment
from fixflow.catalogs.models import WorkType
from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.fields.access import Level
from fixflow.fields.models import FieldEntity
from fixflow.fields.service import AccessCell, DefinitionDraft, create_definition, set_access_cells
from fixflow.objects.qr import create_qr, qr_link
from fixflow.tickets.models import Ticket
from fixflow.workflow.models import Stage

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_picker_shows_only_my_objects_as_a_tree(client: TestClient, world: World) -> None:
    web_login(client, world.customer_a)
    page = client.get("/app/tickets/new")
    assert page.status_code == 200
    nodes = find_all(page.text, class_="tree-node")
    assert [int(n["data-object-id"]) for n in nodes] == [world.site_a]
    details = find(page.text, class_="tree-node__details")
    assert details["data-children-url"] == f"/app/tickets/new/tree?parent={world.site_a}"
    assert find(page.text, data_testid="open-object")["href"] == f"/app/tickets/new?parent={world.site_a}"
    children = client.get(details["data-children-url"])
    assert children.status_code == 200 and "<html" not in children.text
    assert [int(n["data-object-id"]) for n in find_all(children.text, class_="tree-node")] == [
        world.objects_a[1]
    ]
    level = client.get(f"/app/tickets/new?parent={world.site_a}").text
    picks = [a["href"] for a in find_all(level, data_testid="pick-object")]
    assert picks == [
        f"/app/tickets/new?object={world.site_a}",
        f"/app/tickets/new?object={world.objects_a[1]}",
    ]
    assert "Pump B" not in level and "Site B" not in page.text


def test_object_search(client: TestClient, world: World) -> None:
    web_login(client, world.customer_a)
    found = client.get("/app/tickets/new", params={"q": "PUMP"}).text
    assert [int(n["data-object-id"]) for n in find_all(found, class_="tree-node")] == [world.objects_a[1]]
    assert "Site A" in find(found, data_testid="pick-object").text  # the path is shown
    assert find(client.get("/app/tickets/new", params={"q": "nothing"}).text, data_testid="objects-empty")


def test_another_companys_object_cannot_be_picked(client: TestClient, world: World) -> None:
    web_login(client, world.customer_b)
    assert client.get(f"/app/tickets/new?object={world.objects_a[1]}").status_code == 404
    assert client.get(f"/app/tickets/new?parent={world.site_a}").status_code == 404
    assert client.get(f"/app/tickets/new/tree?parent={world.site_a}").status_code == 404


def form_page(client: TestClient, world: World) -> str:
    page = client.get(f"/app/tickets/new?object={world.objects_a[1]}")
    assert page.status_code == 200
    return str(page.text)


def test_form_offers_types_and_allowed_work_types(
    client: TestClient, world: World, database: Database
) -> None:
    with database.session(write=True) as s:
        hidden = s.scalars(
            select(WorkType).where(WorkType.tenant_id == world.tenant_id).order_by(WorkType.id)
        ).all()[-1]
        hidden.published = False
        hidden_name = hidden.name
    web_login(client, world.customer_a)
    page = form_page(client, world)
    form = find(page, data_testid="ticket-form")
    assert form["enctype"] == "multipart/form-data"
    assert find(page, data_testid="picked-object").text.startswith("Объект Site A › Pump A")
    type_select = find(page, tag="select", name="type_id")
    assert "data-refresh-on-change" in type_select.attrs
    assert (
        "selected" in find(page, tag="option", value=str(world.type_id)).attrs
    )  # the only type is preselected
    work_types = find(page, tag="select", name="work_type_id").text
    assert hidden_name not in work_types
    assert find(page, data_testid="files")["type"] == "file"


def test_invalid_input_comes_back_with_errors_and_keeps_what_was_typed(
    client: TestClient, world: World, database: Database
) -> None:
    web_login(client, world.customer_a)
    page = form_page(client, world)
    data = {
        "object_id": str(world.objects_a[1]),
        "type_id": str(world.type_id),
        "work_type_id": str(world.work_type_id),
        "description": "   ",
        "csrf_token": csrf(page),
        "_create": "1",
    }
    response = client.post("/app/tickets/new", data=data)
    assert response.status_code == 422
    assert find(response.text, data_testid="field-error-description").text == "Опишите проблему"
    assert "selected" in find(response.text, tag="option", value=str(world.work_type_id)).attrs
    assert find(response.text, tag="textarea", name="description")["aria-invalid"] == "true"
    no_type = client.post("/app/tickets/new", data=data | {"type_id": "", "description": "Капает с потолка"})
    assert no_type.status_code == 422
    assert find(no_type.text, data_testid="field-error-type_id").text == "Выберите тип заявки"
    assert find(no_type.text, tag="textarea", name="description").text == "Капает с потолка"
    with database.session() as s:
        assert s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id)).all() == []


def test_create_ticket_with_a_photo(client: TestClient, world: World, database: Database) -> None:
    web_login(client, world.customer_a)
    page = form_page(client, world)
    response = client.post(
        "/app/tickets/new",
        data={
            "object_id": str(world.objects_a[1]),
            "type_id": str(world.type_id),
            "work_type_id": "",
            "description": "Не работает насос",
            "csrf_token": csrf(page),
            "_create": "1",
        },
        files={"files": ("photo.png", io.BytesIO(PNG), "image/png")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("?done=created")
    profile = client.get(response.headers["location"]).text
    assert find(profile, data_testid="flash").text == "Заявка создана."
    assert find(profile, data_testid="description").text == "Не работает насос"
    with database.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id)).one()
        [photo] = s.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id)).all()
    assert ticket.source == "app" and ticket.initiator_id == world.customer_a.id
    image = find(profile, class_="files__thumb")
    assert image["src"] == f"/app/files/{photo.id}"
    served = client.get(image["src"])
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["x-content-type-options"] == "nosniff"


def test_files_survive_a_form_that_comes_back(client: TestClient, world: World, database: Database) -> None:
    web_login(client, world.customer_a)
    page = form_page(client, world)
    base = {"object_id": str(world.objects_a[1]), "type_id": str(world.type_id), "_create": "1"}
    failed = client.post(
        "/app/tickets/new",
        data=base | {"description": "", "csrf_token": csrf(page)},
        files={"files": ("photo.png", io.BytesIO(PNG), "image/png")},
    )
    assert failed.status_code == 422
    assert "photo.png" in find(failed.text, data_testid="uploads").text
    kept = find(failed.text, tag="input", name="attachment_ids")["value"]
    done = client.post(
        "/app/tickets/new",
        data=base | {"description": "Теперь с описанием", "attachment_ids": kept, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with database.session() as s:
        attachment = s.get(Attachment, int(kept))
        assert attachment is not None and attachment.ticket_id is not None


def _create_form(world: World, page: str, description: str) -> dict[str, str]:
    return {
        "object_id": str(world.objects_a[1]),
        "type_id": str(world.type_id),
        "description": description,
        "csrf_token": csrf(page),
        "_create": "1",
    }


def _uploads_of(database: Database, world: World) -> list[Attachment]:
    with database.session() as s:
        return list(s.scalars(select(Attachment).where(Attachment.uploaded_by == world.customer_a.id)))


def test_too_many_files_come_back_as_an_error_next_to_the_files_keeping_the_text(
    client: TestClient, world: World, database: Database
) -> None:
    web_login(client, world.customer_a)
    page = form_page(client, world)
    files = [("files", (f"photo{i}.png", io.BytesIO(PNG), "image/png")) for i in range(11)]
    response = client.post(
        "/app/tickets/new", data=_create_form(world, page, "Течёт кран на кухне"), files=files
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert find(response.text, data_testid="field-error-files").text == "Не больше 10 файлов"
    assert find(response.text, tag="textarea", name="description").text == "Течёт кран на кухне"
    assert _uploads_of(database, world) == []  # nothing stored of a refused batch
    ten = client.post(
        "/app/tickets/new",
        data=_create_form(world, page, "Течёт кран"),
        files=files[:10],
        follow_redirects=False,
    )
    assert ten.status_code == 303


def test_a_refused_file_keeps_the_files_stored_before_it(
    client: TestClient, world: World, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "upload_max_bytes", 2 * 1024)
    web_login(client, world.customer_a)
    page = form_page(client, world)
    files = [
        ("files", ("small.png", io.BytesIO(PNG), "image/png")),
        ("files", ("big.png", io.BytesIO(PNG + b"\0" * 4096), "image/png")),
    ]
    response = client.post("/app/tickets/new", data=_create_form(world, page, "Сломан замок"), files=files)
    assert response.status_code == 413
    assert find(response.text, data_testid="field-error-files") is not None
    assert "small.png" in find(response.text, data_testid="uploads").text
    [kept] = _uploads_of(database, world)
    assert kept.filename == "small.png"
    assert find(response.text, tag="input", name="attachment_ids")["value"] == str(kept.id)


def test_a_form_the_parser_refuses_is_a_page_in_the_users_language(client: TestClient, world: World) -> None:
    web_login(client, world.customer_a)
    page = form_page(client, world)
    files = [("files", (f"f{i}.png", io.BytesIO(PNG), "image/png")) for i in range(60)]
    response = client.post("/app/tickets/new", data=_create_form(world, page, "Много файлов"), files=files)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "Не удалось прочитать форму" in response.text


def test_someone_elses_upload_cannot_be_smuggled_in(
    client: TestClient, world: World, database: Database
) -> None:
    web_login(client, world.customer_b)
    page = client.get(f"/app/tickets/new?object={world.objects_b[1]}").text
    upload = client.post(
        "/app/tickets/new",
        data={
            "object_id": str(world.objects_b[1]),
            "type_id": str(world.type_id),
            "description": "",
            "csrf_token": csrf(page),
        },
        files={"files": ("b.png", io.BytesIO(PNG), "image/png")},
    )
    foreign = find(upload.text, tag="input", name="attachment_ids")["value"]
    client.cookies.clear()
    web_login(client, world.customer_a)
    page = form_page(client, world)
    response = client.post(
        "/app/tickets/new",
        data={
            "object_id": str(world.objects_a[1]),
            "type_id": str(world.type_id),
            "description": "Чужой файл",
            "attachment_ids": foreign,
            "csrf_token": csrf(page),
            "_create": "1",
        },
    )
    assert response.status_code == 422
    assert "b.png" not in response.text
    with database.session() as s:
        assert s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id)).all() == []


def test_qr_code_prefills_the_form(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        code = create_qr(
            s,
            world.dispatcher.actor,
            world.objects_a[1],
            ticket_type_id=world.type_id,
            work_type_id=world.work_type_id,
        )
        token = code.token
    web_login(client, world.customer_a)
    picker = client.get("/app/tickets/new").text
    assert find(picker, data_testid="qr-input")["name"] == "qr"
    assert "hidden" in find(picker, data_testid="qr-camera").attrs  # shown by qr-scan.js where supported
    for typed in (token, qr_link("http://testserver", token), f"/app/tickets/new?qr={token}"):
        page = client.get("/app/tickets/new", params={"qr": typed})
        assert page.status_code == 200, typed
        assert find(page.text, data_testid="picked-object")["data-object-id"] == str(world.objects_a[1])
        assert "selected" in find(page.text, tag="option", value=str(world.work_type_id)).attrs
        assert find(page.text, tag="input", name="qr")["value"] == token
    created = client.post(
        "/app/tickets/new",
        data={
            "object_id": str(world.objects_a[1]),
            "type_id": str(world.type_id),
            "description": "По QR",
            "qr": token,
            "csrf_token": csrf(page.text),
            "_create": "1",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    with database.session() as s:
        assert s.scalars(select(Ticket.source).where(Ticket.tenant_id == world.tenant_id)).one() == "qr"


def test_an_unknown_or_foreign_qr_code_says_so(client: TestClient, world: World, database: Database) -> None:
    with database.session(write=True) as s:
        token = create_qr(s, world.dispatcher.actor, world.objects_a[1]).token
    web_login(client, world.customer_b)
    for typed in (token, "nonsense"):
        page = client.get("/app/tickets/new", params={"qr": typed})
        assert page.status_code == 404
        assert "QR-код не распознан" in find(page.text, data_testid="qr-error").text
        assert find(page.text, data_testid="qr-input")["value"] == typed


def customer_field(database: Database, world: World, draft: DefinitionDraft) -> None:
    """One ticket field the customer role may write at the start stage."""
    with database.session(write=True) as s:
        owner = world.owner.actor
        role_id = s.scalars(
            select(Role.id).where(Role.tenant_id == world.tenant_id, Role.code == "customer")
        ).one()
        start = s.scalars(
            select(Stage.id).where(Stage.tenant_id == world.tenant_id, Stage.is_start.is_(True))
        ).one()
        row = create_definition(s, owner, draft)
        set_access_cells(s, owner, row, [AccessCell(role_id, start, Level.WRITE)])


def add_fields(database: Database, world: World) -> None:
    """Three ticket fields the customer role fills at the start stage (serial number required)."""
    with database.session(write=True) as s:
        owner = world.owner.actor
        role_id = s.scalars(
            select(Role.id).where(Role.tenant_id == world.tenant_id, Role.code == "customer")
        ).one()
        start = s.scalars(
            select(Stage.id).where(Stage.tenant_id == world.tenant_id, Stage.is_start.is_(True))
        ).one()
        drafts = [
            (DefinitionDraft(FieldEntity.TICKET, "serial", "Серийный номер", "string"), Level.REQUIRED),
            (
                DefinitionDraft(
                    FieldEntity.TICKET,
                    "symptoms",
                    "Симптомы",
                    "multichoice",
                    choices=[{"value": "noise", "label": "Шум"}, {"value": "leak", "label": "Течь"}],
                ),
                Level.WRITE,
            ),
            (DefinitionDraft(FieldEntity.TICKET, "urgent", "Срочно", "boolean"), Level.WRITE),
        ]
        for order, (draft, level) in enumerate(drafts):
            draft.sort_order = order
            row = create_definition(s, owner, draft)
            set_access_cells(s, owner, row, [AccessCell(role_id, start, level)])


def test_additional_fields_are_rendered_validated_and_shown(
    client: TestClient, world: World, database: Database
) -> None:
    add_fields(database, world)
    web_login(client, world.customer_a)
    page = form_page(client, world)
    assert find(page, data_testid="additional-fields")
    assert find(page, tag="input", name="f.serial")["type"] == "text"
    assert [b["value"] for b in find_all(page, tag="input", name="f.symptoms")] == ["noise", "leak"]
    assert find(page, tag="input", name="f.urgent")["type"] == "checkbox"
    base = {
        "object_id": str(world.objects_a[1]),
        "type_id": str(world.type_id),
        "description": "Шумит насос",
        "f.symptoms": ["noise", "leak"],
        "f.urgent": "true",
        "csrf_token": csrf(page),
        "_create": "1",
    }
    missing = client.post("/app/tickets/new", data=base)
    assert missing.status_code == 422
    assert find(missing.text, data_testid="field-error-fields.serial").text == "Обязательное поле"
    kept = [b for b in find_all(missing.text, tag="input", name="f.symptoms") if "checked" in b.attrs]
    assert [b["value"] for b in kept] == ["noise", "leak"]
    assert "checked" in find(missing.text, tag="input", name="f.urgent").attrs
    created = client.post("/app/tickets/new", data=base | {"f.serial": "SN-42"}, follow_redirects=False)
    assert created.status_code == 303, created.text
    with database.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id)).one()
    assert ticket.fields == {"serial": "SN-42", "symptoms": ["leak", "noise"], "urgent": True}
    profile = client.get(created.headers["location"]).text
    shown = find(profile, data_testid="fields").text
    assert "Серийный номер SN-42" in shown and "Шум" in shown and "Срочно Да" in shown


def test_a_file_field_is_uploaded_from_the_form_and_kept_when_the_form_comes_back(
    client: TestClient, world: World, database: Database
) -> None:
    customer_field(database, world, DefinitionDraft(FieldEntity.TICKET, "plate", "Фото шильдика", "file"))
    web_login(client, world.customer_a)
    page = form_page(client, world)
    assert find(page, tag="input", name="f.plate")["type"] == "file"
    base = {
        "object_id": str(world.objects_a[1]),
        "type_id": str(world.type_id),
        "csrf_token": csrf(page),
        "_create": "1",
    }
    plate = {"f.plate": ("plate.png", io.BytesIO(PNG), "image/png")}
    # no description: the form comes back, the stored file rides along in a hidden input
    back = client.post("/app/tickets/new", data=base | {"description": ""}, files=plate)
    assert back.status_code == 422
    kept = find(back.text, tag="input", name="f.plate", type="hidden")["value"]
    assert find(back.text, data_testid="field-file-kept-plate")
    created = client.post(
        "/app/tickets/new",
        data=base | {"description": "Шильдик стёрся", "f.plate": kept, "csrf_token": csrf(back.text)},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    with database.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id)).one()
        attachment = s.get(Attachment, int(kept))
    assert ticket.fields == {"plate": int(kept)}
    assert attachment is not None and attachment.ticket_id == ticket.id
    assert client.get(f"/app/files/{kept}").content == PNG


def test_a_reference_field_offers_only_what_the_customer_may_reference(
    client: TestClient, world: World, database: Database
) -> None:
    site = DefinitionDraft(FieldEntity.TICKET, "site", "Площадка", "ref", ref_kind="object")
    customer_field(database, world, site)
    web_login(client, world.customer_a)
    page = form_page(client, world)
    select_html = re.search(r'<select[^>]*name="f\.site".*?</select>', page, re.S)
    assert select_html is not None
    offered = [o["value"] for o in find_all(select_html.group(0), tag="option")]
    assert offered == ["", *(str(i) for i in world.objects_a)]  # company B's objects are not offered
    base = {
        "object_id": str(world.objects_a[1]),
        "type_id": str(world.type_id),
        "description": "Проверить площадку",
        "csrf_token": csrf(page),
        "_create": "1",
    }
    foreign = client.post("/app/tickets/new", data=base | {"f.site": str(world.objects_b[0])})
    assert foreign.status_code == 422  # typed by hand: refused like any invisible id
    created = client.post(
        "/app/tickets/new", data=base | {"f.site": str(world.site_a)}, follow_redirects=False
    )
    assert created.status_code == 303, created.text
    with database.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.tenant_id == world.tenant_id)).one()
    assert ticket.fields == {"site": world.site_a}
