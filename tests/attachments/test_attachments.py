"""Uploads: size limit, type by content, safe serving, storage outside the web root, visibility."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import fixflow
from builders import World, login
from fixflow.app import create_app
from fixflow.attachments.models import Attachment
from fixflow.attachments.service import visible_files
from fixflow.attachments.storage import Storage, TooLarge, clean_filename, sniff_content_type
from fixflow.config import Settings
from fixflow.core.db import Database
from fixflow.tickets.detail import load_ticket_profile
from fixflow.tickets.models import TicketHistory

API = "/api/v1"
LIMIT = 2_000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 40
GIF = b"GIF89a" + b"\x00" * 40
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(database: Database, database_url: str, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        run_worker_in_process=False,
        login_failures_per_ip=100_000,
        upload_max_bytes=LIMIT,
    )
    with TestClient(create_app(settings, db=database)) as c:
        yield c


def upload(
    client: TestClient,
    headers: dict[str, str],
    content: bytes,
    name: str = "file.bin",
    client_type: str = "application/octet-stream",
) -> Any:
    return client.post(f"{API}/attachments", files={"file": (name, content, client_type)}, headers=headers)


def new_ticket(
    client: TestClient, world: World, headers: dict[str, str], object_id: int | None = None
) -> int:
    body = {"type_id": world.type_id, "object_id": object_id or world.objects_a[1], "description": "Leak"}
    response = client.post(f"{API}/tickets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def stored_files(data_dir: Path) -> list[Path]:
    root = data_dir / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- storage -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (b"GIF87a...", "image/gif"),
        (WEBP, "image/webp"),
        (PDF, "application/pdf"),
        ("Привет, мир\nline two\t\r\n".encode(), "text/plain"),
        (b"<html><script>alert(1)</script></html>", "text/plain"),  # served as text, never as a page
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "application/octet-stream"),
        (b"MZ\x90\x00\x03\x00", "application/octet-stream"),
        (b"abc\x00def", "application/octet-stream"),
        (b"\xff\xfe\x00a", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_type_is_sniffed_from_content(head: bytes, expected: str) -> None:
    assert sniff_content_type(head) == expected


def test_text_cut_inside_a_character_is_still_text() -> None:
    text = ("й" * 5000).encode()
    assert sniff_content_type(text[:8191]) == "text/plain"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("bad\x00name\r\n.txt", "badname.txt"),
        ("", "file"),
        (None, "file"),
        ("..", "file"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_filenames_are_cleaned(raw: str | None, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_storage_refuses_past_the_limit_and_keeps_nothing(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    with pytest.raises(TooLarge):
        storage.save(io.BytesIO(b"x" * 101), max_bytes=100)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    stored = storage.save(io.BytesIO(b"x" * 100), max_bytes=100)
    assert stored.size == 100 and storage.path(stored.key).read_bytes() == b"x" * 100
    with pytest.raises(ValueError):
        storage.path("../../etc/passwd")


# --- HTTP ----------------------------------------------------------------------------------------------


def test_upload_and_download(client: TestClient, world: World, data_dir: Path) -> None:
    headers = login(client, world.customer_a)
    response = upload(client, headers, PNG, name="photo.txt", client_type="text/html")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "filename", "size", "content_type"}
    assert (body["filename"], body["size"], body["content_type"]) == ("photo.txt", len(PNG), "image/png")
    got = client.get(f"{API}/attachments/{body['id']}", headers=headers)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["content-disposition"].startswith("inline")


def test_non_images_download_as_attachments_and_html_is_plain_text(client: TestClient, world: World) -> None:
    headers = login(client, world.customer_a)
    page = upload(
        client, headers, b"<script>alert(document.cookie)</script>", name="x.html", client_type="text/html"
    )
    assert page.json()["content_type"] == "text/plain"
    got = client.get(f"{API}/attachments/{page.json()['id']}", headers=headers)
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"
    named = upload(client, headers, PDF, name='отчёт "1".pdf')
    got = client.get(f"{API}/attachments/{named.json()['id']}", headers=headers)
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment; filename*=utf-8''")
    assert '"1"' not in got.headers["content-disposition"]


def test_size_limit(client: TestClient, world: World, data_dir: Path) -> None:
    headers = login(client, world.customer_a)
    assert upload(client, headers, b"x" * LIMIT).status_code == 201
    before = stored_files(data_dir)
    refused = upload(client, headers, b"x" * (LIMIT + 1))  # within the multipart allowance: streamed
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("application/problem+json")
    huge = upload(client, headers, b"x" * (LIMIT + 100_000))  # refused by its Content-Length
    assert huge.status_code == 413
    assert stored_files(data_dir) == before


def test_upload_needs_a_valid_token_and_one_file_part(client: TestClient, world: World) -> None:
    assert upload(client, {}, b"x").status_code == 401
    assert upload(client, {"Authorization": "Bearer nope"}, b"x").status_code == 401
    headers = login(client, world.customer_a)
    wrong_part = client.post(f"{API}/attachments", files={"other": ("a", b"x")}, headers=headers)
    assert wrong_part.status_code in (400, 422)
    as_json = client.post(f"{API}/attachments", json={"file": "x"}, headers=headers)
    assert as_json.status_code == 422


def test_files_are_stored_outside_the_web_root_under_random_names(
    client: TestClient, world: World, data_dir: Path, database: Database
) -> None:
    headers = login(client, world.customer_a)
    attachment_id = upload(client, headers, PNG, name="../../static/evil.png").json()["id"]
    with database.session() as s:
        row = s.get(Attachment, attachment_id)
        assert row is not None
        key, name = row.storage_key, row.filename
    assert name == "evil.png"
    (path,) = [p for p in stored_files(data_dir) if p.name == key]
    assert path.read_bytes() == PNG
    assert path.is_relative_to(data_dir / "uploads")
    static = Path(fixflow.__file__).parent / "static"
    assert not path.resolve().is_relative_to(static.resolve())
    assert "evil" not in str(path)
    assert client.get(f"/static/{key}").status_code == 404
    assert client.get(f"/uploads/{key[:2]}/{key[2:4]}/{key}").status_code == 404


def test_visibility_follows_the_ticket(client: TestClient, world: World, database: Database) -> None:
    customer_a = login(client, world.customer_a)
    ticket_id = new_ticket(client, world, customer_a)
    attachment_id = upload(client, customer_a, PNG, name="leak.png").json()["id"]
    url = f"{API}/attachments/{attachment_id}"
    # unbound: its uploader only
    assert client.get(url, headers=customer_a).status_code == 200
    for person in (world.dispatcher, world.cadmin_a, world.customer_b):
        assert client.get(url, headers=login(client, person)).status_code == 404
    attached = client.post(
        f"{API}/tickets/{ticket_id}/attachments", json={"attachment_ids": [attachment_id]}, headers=customer_a
    )
    assert attached.status_code == 200, attached.text
    assert [a["id"] for a in attached.json()] == [attachment_id]
    # bound: whoever sees the ticket
    for person, status in (
        (world.dispatcher, 200),
        (world.cadmin_a, 200),
        (world.customer_a2, 404),
        (world.customer_b, 404),
        (world.cadmin_b, 404),
        (world.executor, 404),
    ):
        headers = login(client, person)
        assert client.get(url, headers=headers).status_code == status, person
        assert client.get(f"{API}/tickets/{ticket_id}/attachments", headers=headers).status_code == status
    listed = client.get(
        f"{API}/tickets/{ticket_id}/attachments", headers=login(client, world.dispatcher)
    ).json()
    assert [(a["id"], a["filename"], a["uploaded_by"]) for a in listed] == [
        (attachment_id, "leak.png", world.customer_a.id)
    ]
    with database.session() as s:
        kinds = s.scalars(select(TicketHistory.kind).where(TicketHistory.ticket_id == ticket_id)).all()
    assert kinds.count("attachment_added") == 1
    again = client.post(
        f"{API}/tickets/{ticket_id}/attachments", json={"attachment_ids": [attachment_id]}, headers=customer_a
    )
    assert again.status_code == 200  # idempotent
    with database.session() as s:
        kinds = s.scalars(select(TicketHistory.kind).where(TicketHistory.ticket_id == ticket_id)).all()
    assert kinds.count("attachment_added") == 1


def test_only_own_unbound_uploads_can_be_attached(client: TestClient, world: World) -> None:
    customer_a, dispatcher = login(client, world.customer_a), login(client, world.dispatcher)
    ticket_id = new_ticket(client, world, customer_a)
    other_ticket = new_ticket(client, world, customer_a)
    foreign = upload(client, dispatcher, b"x").json()["id"]
    refused = client.post(
        f"{API}/tickets/{ticket_id}/attachments", json={"attachment_ids": [foreign]}, headers=customer_a
    )
    assert refused.status_code == 422
    mine = upload(client, customer_a, b"x").json()["id"]
    assert (
        client.post(
            f"{API}/tickets/{ticket_id}/attachments", json={"attachment_ids": [mine]}, headers=customer_a
        ).status_code
        == 200
    )
    moved = client.post(
        f"{API}/tickets/{other_ticket}/attachments", json={"attachment_ids": [mine]}, headers=customer_a
    )
    assert moved.status_code == 422  # already on another ticket
    b_ticket = new_ticket(client, world, login(client, world.customer_b), world.objects_b[1])
    assert (
        client.post(
            f"{API}/tickets/{b_ticket}/attachments", json={"attachment_ids": [mine]}, headers=customer_a
        ).status_code
        == 404
    )


def test_a_file_field_binds_its_upload_and_hides_it_with_the_field(
    client: TestClient, world: World, database: Database
) -> None:
    from fixflow.accounts.models import Role
    from fixflow.workflow.models import Stage

    owner, dispatcher = login(client, world.owner), login(client, world.dispatcher)
    field = client.post(
        f"{API}/fields",
        json={"entity": "ticket", "code": "act", "name": "Act", "type": "file"},
        headers=owner,
    ).json()
    with database.session() as s:
        customer_role = s.scalar(
            select(Role.id).where(Role.tenant_id == world.tenant_id, Role.code == "customer")
        )
        stages = s.scalars(select(Stage.id).where(Stage.tenant_id == world.tenant_id)).all()
    cells = [{"role_id": customer_role, "stage_id": stage, "level": "hidden"} for stage in stages]
    assert (
        client.put(f"{API}/fields/{field['id']}/access", json={"cells": cells}, headers=owner).status_code
        == 200
    )
    file_id = upload(client, dispatcher, PDF, name="act.pdf").json()["id"]
    body = {
        "type_id": world.type_id,
        "object_id": world.objects_a[1],
        "description": "x",
        "initiator_id": world.customer_a.id,
        "fields": {"act": file_id},
    }
    ticket = client.post(f"{API}/tickets", json=body, headers=dispatcher)
    assert ticket.status_code == 201, ticket.text
    with database.session() as s:
        row = s.get(Attachment, file_id)
        assert row is not None and (row.ticket_id, row.field_code) == (ticket.json()["id"], "act")
    url = f"{API}/attachments/{file_id}"
    assert client.get(url, headers=login(client, world.cadmin_a)).status_code == 200  # default: read
    customer = login(client, world.customer_a)
    assert client.get(url, headers=customer).status_code == 404  # initiator, but the field is hidden
    assert client.get(f"{API}/tickets/{ticket.json()['id']}/attachments", headers=customer).json() == []
    # the customer app's ticket page lists the profile's files through visible_files: the same rule
    with database.session() as s:
        for person, expected in ((world.customer_a, []), (world.cadmin_a, ["act.pdf"])):
            profile = load_ticket_profile(s, person.actor, ticket.json()["id"])
            assert [f.filename for f in profile.files] == ["act.pdf"]  # stored, before the rule
            shown = visible_files(s, person.actor, profile.ticket, profile.files)
            assert [f.filename for f in shown] == expected
    # the bound file may be kept in the field on a later edit, but not reused on another ticket
    other = client.post(f"{API}/tickets", json=body, headers=dispatcher)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "fields.act"
