"""Telling bounces, automatic replies and abuse reports from mail that people wrote."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from mail_support import MISSING, compose, corpus_files, corpus_path

from opsdesk.mail.classify import MailKind, classify
from opsdesk.mail.parse import parse_message

NOT_BOUNCES = ("sisimai/is-not-bounce-01.eml", "sisimai/is-not-bounce-02.eml")
# Mail from the other corpus groups that is machine-sent and so must not become a ticket.
OTHER_MACHINE_MAIL = {
    "mikel-mail/error_emails/bad_date_header.eml": MailKind.AUTO_REPLY,
    "mikel-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml": MailKind.BOUNCE,
}


def expected_kind(relative: str) -> MailKind:
    name = PurePosixPath(relative).name
    if name.startswith("arf-"):
        return MailKind.FEEDBACK_REPORT
    if name.startswith("rfc3834-"):
        return MailKind.AUTO_REPLY
    return MailKind.BOUNCE


def machine_mail() -> list[str]:
    files = corpus_files("sisimai", "mikel-mail/multipart_report_emails")
    return [relative for relative in files if relative not in NOT_BOUNCES]


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", machine_mail())
def test_machine_mail_recognised(relative: str) -> None:
    message = parse_message(corpus_path(relative).read_bytes())

    verdict = classify(message)

    assert verdict.kind is expected_kind(relative), verdict.reason
    assert verdict.reason


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", NOT_BOUNCES)
def test_is_not_bounce_is_ordinary(relative: str) -> None:
    verdict = classify(parse_message(corpus_path(relative).read_bytes()))

    assert verdict.kind is MailKind.ORDINARY, verdict.reason


@pytest.mark.shared_data
def test_other_groups_mostly_ordinary() -> None:
    files = corpus_files("mikel-mail", "talon", suffixes=(".eml",))
    if files == [MISSING]:
        corpus_path(MISSING)
    found = {}
    for relative in files:
        if relative.startswith("mikel-mail/multipart_report_emails/"):
            continue
        verdict = classify(parse_message(corpus_path(relative).read_bytes()))
        if not verdict.is_ordinary:
            found[relative] = verdict.kind

    assert found == OTHER_MACHINE_MAIL


@pytest.mark.parametrize(
    ("headers", "subject", "kind"),
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: boiler", MailKind.AUTO_REPLY),
        ({"Auto-Submitted": "auto-generated (vacation)"}, "Re: boiler", MailKind.AUTO_REPLY),
        ({"Auto-Submitted": "no"}, "Re: boiler", MailKind.ORDINARY),
        ({"Precedence": "bulk"}, "Newsletter", MailKind.AUTO_REPLY),
        ({"Precedence": "junk"}, "Offer", MailKind.AUTO_REPLY),
        ({"Precedence": "list"}, "List digest", MailKind.AUTO_REPLY),
        ({"Precedence": "first-class"}, "Re: boiler", MailKind.ORDINARY),
        ({"X-Autoreply": "yes"}, "Re: boiler", MailKind.AUTO_REPLY),
        ({"X-Autorespond": "Holiday"}, "Re: boiler", MailKind.AUTO_REPLY),
        ({}, "Out of Office: back on Monday", MailKind.AUTO_REPLY),
        ({}, "Automatic reply: Inverter beeps", MailKind.AUTO_REPLY),
        ({}, "Abwesenheitsnotiz: Urlaub", MailKind.AUTO_REPLY),
        ({}, "Re: Automatic reply: Inverter beeps", MailKind.ORDINARY),
        ({}, "Out of office AC unit broken", MailKind.ORDINARY),
        ({}, "Our office is out of power", MailKind.ORDINARY),
        ({}, "Undeliverable: parcel with the spare fan", MailKind.ORDINARY),
        ({"Return-Path": "<>"}, "Undeliverable: Inverter beeps", MailKind.BOUNCE),
        ({"X-Failed-Recipients": "ada@example.com"}, "Mail failure", MailKind.BOUNCE),
    ],
)
def test_headers_and_subjects(headers: dict[str, str], subject: str, kind: MailKind) -> None:
    message = parse_message(compose(subject=subject, headers=headers))

    verdict = classify(message)

    assert verdict.kind is kind, verdict.reason


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.com", "postmaster@example.org"])
def test_bounce_senders(sender: str) -> None:
    message = parse_message(compose(sender=sender, subject="Returned mail"))

    verdict = classify(message)

    assert verdict.kind is MailKind.BOUNCE
    assert sender in verdict.reason


def test_read_receipt_is_automatic() -> None:
    raw = (
        b"From: ada@example.com\r\nSubject: Read: Inverter\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=disposition-notification; "
        b'boundary="r"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n'
        b"--r\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n--r--\r\n"
    )

    verdict = classify(parse_message(raw))

    assert verdict.kind is MailKind.AUTO_REPLY
    assert "read receipt" in verdict.reason
