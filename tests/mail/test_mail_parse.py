"""Decoding raw messages: every corpus file, charsets, encoded words, filenames, bytes."""

from __future__ import annotations

import email
import hashlib
from email import policy
from email.message import EmailMessage

import pytest
from mail_support import GROUPS, corpus_files, corpus_message, corpus_path

from opsdesk.mail.parse import ParsedMessage, decode_header_value, parse_message

pytestmark = pytest.mark.shared_data

MULTI_CHARSET = "mikel-mail/multi_charset"
ATTACHMENTS = "mikel-mail/attachment_emails"
PDF_FILES = (
    f"{ATTACHMENTS}/attachment_pdf.eml",
    f"{ATTACHMENTS}/attachment_pdf_lf.eml",
    f"{ATTACHMENTS}/attachment_pdf_non_ascii.eml",
    f"{ATTACHMENTS}/attachment_pdf_non_ascii_lf.eml",
)


def parse_file(relative: str) -> ParsedMessage:
    return parse_message(corpus_path(relative).read_bytes())


def has_surrogates(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def attachment_named(message: ParsedMessage, filename: str) -> bytes:
    for attachment in message.attachments:
        if attachment.filename == filename:
            return attachment.content
    names = [attachment.filename for attachment in message.attachments]
    raise AssertionError(f"no attachment {filename!r}; the message has {names}")


@pytest.mark.parametrize("relative", corpus_files(*GROUPS))
def test_corpus_file_parses_to_text(relative: str) -> None:
    message = parse_message(corpus_message(relative))

    assert isinstance(message.text, str)
    assert not has_surrogates(message.subject)
    assert not has_surrogates(message.text)
    for name, value in message.headers:
        assert not has_surrogates(value), f"undecoded bytes in {name}"
    for attachment in message.attachments:
        assert not has_surrogates(attachment.filename)
        assert attachment.filename
        assert "/" not in attachment.filename


def test_japanese_utf8_subject_and_body() -> None:
    message = parse_file(f"{MULTI_CHARSET}/japanese.eml")

    assert message.subject == "まみむめも"
    assert message.text.startswith("かきくえこ")
    assert message.to[0].name == "山田太郎"


def test_iso_2022_jp_body() -> None:
    message = parse_file(f"{MULTI_CHARSET}/japanese_iso_2022.eml")

    assert message.text.strip() == "すみません。"
    assert message.notes == ()


def test_shift_jis_body() -> None:
    message = parse_file(f"{MULTI_CHARSET}/japanese_shift_jis.eml")

    assert message.text.startswith("あいうえお")
    assert "このメールはテスト用のメールです。" in message.text
    assert "お願い申し上げます！" in message.text
    assert message.notes == ()


def test_korean_ks_c_5601_body() -> None:
    message = parse_file(f"{MULTI_CHARSET}/ks_c_5601-1987.eml")

    assert message.text.strip() == "스티해"
    assert message.notes == ()


def test_korean_utf8_subject() -> None:
    message = parse_file("mikel-mail/plain_emails/raw_email.eml")

    assert message.subject == "NOTE: 한국말로 하는 것"
    assert "우리는 하나님을 믿습니다" in message.text


def test_encoded_word_subject_split_over_lines() -> None:
    message = parse_file(f"{MULTI_CHARSET}/japanese_attachment_long_name.eml")

    assert message.subject == "まみむめも" * 10


def test_encoded_word_subject_partly_quoted() -> None:
    message = parse_file("mikel-mail/plain_emails/raw_email_with_partially_quoted_subject.eml")

    assert message.subject == 'Re: Test: "漢字" mid "漢字" tail'


def test_encoded_word_latin1_subject() -> None:
    message = parse_file(f"{ATTACHMENTS}/attachment_with_quoted_filename.eml")

    assert message.subject == "Eelanalüüsi päring"


def test_encoded_word_display_names() -> None:
    cyrillic = parse_file("mikel-mail/plain_emails/raw_email_bad_time.eml")
    quoted = parse_file("mikel-mail/error_emails/header_fields_with_empty_values.eml")
    unpadded = parse_file("sisimai/is-not-bounce-02.eml")

    assert cyrillic.sender is not None
    assert cyrillic.sender.name == "Иван Иванов"
    assert quoted.sender is not None
    assert quoted.sender.name == "Person12 Sørname12"
    assert unpadded.sender is not None
    assert unpadded.sender.name == "xpto"


def test_utf8_headers_rfc6532() -> None:
    message = parse_file("mikel-mail/rfc6532/utf8_headers.eml")

    assert message.subject == "Säying Hello"
    assert message.sender is not None
    assert message.sender.email == "jdöe@mächine.example"


def test_emoji_subject() -> None:
    message = parse_file(PDF_FILES[0])

    assert message.subject == "Another PDF with 🎉 Unicode chars in it 🍿"


def test_rfc2231_filename_with_charset() -> None:
    message = parse_file(f"{ATTACHMENTS}/attachment_with_quoted_filename.eml")

    assert [attachment.filename for attachment in message.attachments] == ["Eelanalüüsi päring.jpg"]


def test_rfc2231_filename_continued() -> None:
    message = parse_file(f"{MULTI_CHARSET}/japanese_attachment_long_name.eml")

    assert attachment_named(message, "かきくけこ" * 5 + ".txt").startswith(b"this is the data")


def test_encoded_word_filenames() -> None:
    japanese = parse_file(f"{MULTI_CHARSET}/japanese_attachment.eml")
    base64_name = parse_file(f"{ATTACHMENTS}/attachment_with_base64_encoded_name.eml")

    content = attachment_named(japanese, "てすと.txt")
    assert content.decode("utf-8") == "this is a test\nこれわてすと"
    assert [attachment.filename for attachment in base64_name.attachments] == ["This is a test.pdf"]


def test_raw_utf8_filename() -> None:
    message = parse_file(f"{ATTACHMENTS}/attachment_nonascii_filename.eml")

    assert attachment_named(message, "ciële.txt").strip() == b"Hi there."


def test_filename_sources() -> None:
    disposition = parse_file(f"{ATTACHMENTS}/attachment_content_disposition.eml")
    location = parse_file(f"{ATTACHMENTS}/attachment_content_location.eml")
    unquoted = parse_file(f"{ATTACHMENTS}/attachment_with_unquoted_name.eml")

    assert [attachment.filename for attachment in disposition.attachments] == ["api.rb"]
    assert [attachment.filename for attachment in location.attachments] == ["Photo25.jpg"]
    assert [attachment.filename for attachment in unquoted.attachments] == ["This is a test.txt"]


@pytest.mark.parametrize("relative", PDF_FILES)
def test_pdf_attachment_bytes(relative: str) -> None:
    raw = corpus_path(relative).read_bytes()
    message = parse_message(raw)
    reference = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(reference, EmailMessage)
    expected = next(reference.iter_attachments()).get_content()

    content = attachment_named(message, "broken.pdf")

    assert content.startswith(b"%PDF-1.4")
    assert len(content) == 1026
    assert content == expected


def test_pdf_same_bytes_for_every_line_ending() -> None:
    digests = {
        hashlib.sha256(attachment_named(parse_file(relative), "broken.pdf")).hexdigest()
        for relative in PDF_FILES
    }

    assert len(digests) == 1


def test_attached_message_kept_whole() -> None:
    message = parse_file(f"{ATTACHMENTS}/attachment_message_rfc822.eml")

    forwarded = attachment_named(message, "ForwardedMessage.eml")
    inner = parse_message(forwarded)
    assert inner.subject == "Another PDF"
    assert attachment_named(inner, "broken.pdf").startswith(b"%PDF-1.4")


def test_inline_image_and_attached_message() -> None:
    message = parse_file(f"{ATTACHMENTS}/attachment_message_rfc822_inline_image.eml")

    image = next(item for item in message.attachments if item.filename == "img.png")
    assert image.inline
    assert image.content.startswith(b"\x89PNG")
    assert any(item.content_type == "message/rfc822" for item in message.attachments)


def test_text_from_html_only_message() -> None:
    message = parse_file(f"{ATTACHMENTS}/attachment_message_rfc822_inline_image.eml")

    assert message.text_from_html
    assert message.html is not None
    assert "<" not in message.text


def test_unknown_charset_noted() -> None:
    message = parse_file("mikel-mail/plain_emails/raw_email10.eml")

    assert message.text.startswith("Test test. Hi. Waving.")
    assert "Envoyé par le service de messagerie texte de Bell Mobilité." in message.text
    assert any("x-unknown" in note for note in message.notes)


@pytest.mark.parametrize(
    ("relative", "label"),
    [
        ("mikel-mail/error_emails/content_transfer_encoding_plain.eml", "'plain'"),
        ("mikel-mail/error_emails/content_transfer_encoding_text-html.eml", "'text/html'"),
    ],
)
def test_invalid_transfer_encoding_noted(relative: str, label: str) -> None:
    message = parse_file(relative)

    assert message.text.strip()
    assert any(label in note for note in message.notes)


def test_misspelled_quoted_printable_decoded() -> None:
    message = parse_file("mikel-mail/error_emails/content_transfer_encoding_qp_with_space.eml")

    assert message.text.startswith("If you're in need of a good RX site")
    assert "=20" not in message.text
    assert "=\n" not in message.text


def test_raw_8bit_latin1_subject_noted() -> None:
    message = parse_file("mikel-mail/error_emails/invalid_subject_characters.eml")

    assert message.subject.startswith("Formação FrenetikPolis")
    assert any("not UTF-8" in note for note in message.notes)


def test_cr_only_line_endings() -> None:
    cr_only = parse_file("sisimai/cr-lhost-postfix-01.eml")
    crlf = parse_file("sisimai/crlf-lhost-postfix-01.eml")

    assert cr_only.subject == crlf.subject == "Undelivered Mail Returned to Sender"
    assert cr_only.part_types == crlf.part_types
    assert cr_only.report_type == "delivery-status"


def test_obsolete_header_syntax() -> None:
    message = parse_file("mikel-mail/rfc2822/example13.eml")

    assert message.sender is not None
    assert message.sender.email == "jdoe@machine.example"


def test_malformed_from_keeps_bare_address() -> None:
    no_brackets = parse_file("mikel-mail/plain_emails/mix_caps_content_type.eml")
    two_addresses = parse_file("mikel-mail/plain_emails/raw_email_multiple_from.eml")

    assert no_brackets.sender is not None
    assert no_brackets.sender.email == "user70@bug.com"
    assert two_addresses.sender is not None
    assert two_addresses.sender.email == "user74@powerupdev.com"


def test_missing_boundary_empty_body() -> None:
    message = parse_file("mikel-mail/error_emails/bad_date_header2.eml")

    assert message.text.strip() == ""
    assert message.attachments == ()
    assert any("StartBoundaryNotFoundDefect" in note for note in message.notes)


def test_missing_boundary_read_as_text() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: no parts\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="never-used"\r\n\r\n'
        b"The fan makes a grinding noise.\r\n"
    )

    message = parse_message(raw)

    assert message.text == "The fan makes a grinding noise."
    assert message.attachments == ()


def test_thread_headers() -> None:
    message = parse_file("talon/standard_replies/apple_mail_2.eml")

    assert message.message_id == "<68001B29-8EA4-444C-A894-0537D2CA5208@tictail.com>"
    assert message.in_reply_to == (
        "<CABzQGhkMXDxUt_tSVQcg=43aniUhtsVfCZVzu-PG0kwS_uzqMw@mail.gmail.com>",
    )
    assert message.references == message.in_reply_to


def test_uuencoded_attachment() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: uu\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n"
        b'--b\r\nContent-Type: application/octet-stream; name="hello.txt"\r\n'
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
        b"begin 644 hello.txt\r\n%:&5L;&\\ \r\n`\r\nend\r\n--b--\r\n"
    )

    message = parse_message(raw)

    assert attachment_named(message, "hello.txt") == b"hello"


def test_decode_header_joins_split_multibyte_words() -> None:
    # "まみ" in UTF-8 is six bytes; the split falls inside the second character.
    value = "=?utf-8?B?44G+44E=?= =?utf-8?B?vw==?="

    assert decode_header_value(value) == "まみ"


def test_decode_header_unpadded_base64_word() -> None:
    notes: list[str] = []

    assert decode_header_value("=?utf-8?B?SGVsbG8?=", notes) == "Hello"
    assert notes == []


def test_decode_header_keeps_invalid_word() -> None:
    notes: list[str] = []

    text = decode_header_value("=?utf-8?B?SGVsbG8hA?= tail", notes)

    assert text == "=?utf-8?B?SGVsbG8hA?= tail"
    assert len(notes) == 1
    assert "invalid encoded word" in notes[0]
