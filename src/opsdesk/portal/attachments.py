"""Files customers attach in the portal and the widget: type checks, storage and lookup.

A file is accepted by what its first bytes show, not by the type the browser declared,
because the declared type comes from the file name and anyone can rename a file.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only
from starlette.datastructures import UploadFile

from opsdesk.tickets.models import Attachment, TicketMessage

ACCEPTED_TYPES: dict[str, str] = {
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
    "application/pdf": "PDF document",
    "text/plain": "plain-text file",
}
"""Content type to the words the form uses for it."""

ACCEPT_ATTRIBUTE = "image/png,image/jpeg,application/pdf,text/plain,.png,.jpg,.jpeg,.pdf,.txt"
"""Value of the file input's `accept` attribute, which filters the browser's file picker."""

_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
_GENERIC_TYPES = frozenset({"", "application/octet-stream"})
"""Declared types that name no format, so the content alone decides."""

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"%PDF-", "application/pdf"),
)

MAX_FILENAME = 255


def accepted_types_text() -> str:
    """Return the accepted kinds as words: ``PNG, JPEG, PDF or plain text``."""
    return "PNG, JPEG, PDF or plain text"


def size_text(size: int) -> str:
    """Return a byte count for people: ``5 MB``, ``300 KB``, ``12 bytes``."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    if size >= 1024:
        return f"{size / 1024:.3g} KB"
    return f"{size} bytes"


def detect_type(content: bytes) -> str | None:
    """Return the accepted content type that `content` is, or None.

    PNG, JPEG and PDF are recognised by their signatures. Plain text has none, so it is
    any UTF-8 text without control characters other than tab, line feed, carriage return
    and form feed.
    """
    for signature, content_type in _SIGNATURES:
        if content.startswith(signature):
            return content_type
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(char < " " and char not in "\t\n\r\f" for char in text):
        return None
    return "text/plain"


def clean_filename(name: str | None) -> str:
    """Return the last part of an uploaded file's name, without control characters.

    Browsers send only the name, but some old ones sent the whole local path.
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(char for char in base if unicodedata.category(char)[0] != "C").strip()
    base = base.lstrip(".") or "attachment"
    if len(base) > MAX_FILENAME:
        stem, dot, extension = base.rpartition(".")
        if dot and len(extension) <= 10:
            base = stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            base = base[:MAX_FILENAME]
    return base


@dataclass(frozen=True)
class CheckedFile:
    """An uploaded file that passed the checks, ready to store."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class CheckedFiles:
    files: list[CheckedFile]
    problems: list[str]
    """One sentence per rejected file, or about the number of files."""


def _declared_type(upload: UploadFile) -> str:
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    return _TYPE_ALIASES.get(declared, declared)


async def check_uploads(
    uploads: list[UploadFile], *, max_files: int, max_bytes: int
) -> CheckedFiles:
    """Read and check the uploaded files of one form.

    File inputs left empty arrive as parts without a name and are skipped. Every problem
    is reported, so the customer can fix all files at once.
    """
    chosen = [upload for upload in uploads if upload.filename]
    problems: list[str] = []
    if max_files == 0 and chosen:
        return CheckedFiles(files=[], problems=["This form does not take attachments."])
    if len(chosen) > max_files:
        problems.append(
            f"You attached {len(chosen)} files; attach at most {max_files} and send again."
        )
    checked: list[CheckedFile] = []
    for upload in chosen:
        filename = clean_filename(upload.filename)
        content = await upload.read(max_bytes + 1)
        if len(content) > max_bytes:
            problems.append(
                f"{filename} is larger than {size_text(max_bytes)}; attach a smaller file."
            )
            continue
        if not content:
            problems.append(f"{filename} is empty; choose the file again.")
            continue
        actual = detect_type(content)
        declared = _declared_type(upload)
        if declared not in ACCEPTED_TYPES and declared not in _GENERIC_TYPES:
            problems.append(
                f"{filename} is of type {declared}, which is not accepted; attach a "
                f"{accepted_types_text()} file."
            )
            continue
        if declared in ACCEPTED_TYPES and declared != actual:
            problems.append(
                f"{filename} is named as a {ACCEPTED_TYPES[declared]} but its content is "
                f"not one; attach a {accepted_types_text()} file."
            )
            continue
        if actual is None:
            problems.append(
                f"{filename} is not a {accepted_types_text()} file; attach one of those."
            )
            continue
        checked.append(CheckedFile(filename=filename, content_type=actual, content=content))
    return CheckedFiles(files=checked if not problems else [], problems=problems)


def store_attachments(
    session: AsyncSession,
    *,
    ticket_id: int,
    message_id: int | None,
    files: list[CheckedFile],
    at: datetime,
) -> None:
    """Add the files to the session; the caller's transaction writes them."""
    for file in files:
        session.add(
            Attachment(
                ticket_id=ticket_id,
                message_id=message_id,
                filename=file.filename,
                content_type=file.content_type,
                size_bytes=len(file.content),
                content=file.content,
                created_at=at,
            )
        )


def _visible_to_customer(ticket_id: int) -> Select[Attachment]:
    """Select the ticket's attachments that are not on an internal note."""
    return (
        select(Attachment)
        .outerjoin(TicketMessage, TicketMessage.id == Attachment.message_id)
        .where(
            Attachment.ticket_id == ticket_id,
            or_(Attachment.message_id.is_(None), TicketMessage.public.is_(True)),
        )
    )


async def public_attachments(session: AsyncSession, ticket_id: int) -> list[Attachment]:
    """Return the ticket's attachments the customer may see, without their content."""
    query = _visible_to_customer(ticket_id).options(
        load_only(
            Attachment.id,
            Attachment.ticket_id,
            Attachment.message_id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size_bytes,
            Attachment.created_at,
        )
    )
    rows = await session.execute(query.order_by(Attachment.id))
    return list(rows.scalars())


async def public_attachment(
    session: AsyncSession, ticket_id: int, attachment_id: int
) -> Attachment | None:
    """Return one attachment of the ticket that the customer may see, with its content."""
    query = _visible_to_customer(ticket_id).where(Attachment.id == attachment_id)
    return (await session.execute(query)).scalar_one_or_none()
