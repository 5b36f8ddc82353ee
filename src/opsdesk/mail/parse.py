"""Decode a raw RFC 5322 / MIME message into plain Python values.

`parse_message` is written to decode malformed input instead of raising. Unknown or
invalid charsets, bogus Content-Transfer-Encoding values, raw 8-bit headers and broken
encoded words are decoded leniently, and each such fallback is listed in
`ParsedMessage.notes`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.utils
import mimetypes
import posixpath
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from opsdesk.mail.html import html_to_text

# Charset labels that mail clients write but Python does not recognise, or maps to a
# smaller charset than the senders mean. Each maps to the codecs tried in order.
CHARSET_CODECS: dict[str, tuple[str, ...]] = {
    "us-ascii": ("ascii", "utf-8", "cp1252"),
    "ascii": ("ascii", "utf-8", "cp1252"),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2"),
    "shift_jis": ("cp932",),
    "shift-jis": ("cp932",),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "euc-kr": ("cp949",),
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "big5": ("big5hkscs",),
    "iso-8859-8-i": ("iso8859_8",),
    "unicode-1-1-utf-7": ("utf-7",),
}
FALLBACK_CODECS = ("utf-8", "cp1252")

# Signature parts of S/MIME and OpenPGP mail: useless as attachments of a ticket.
SIGNATURE_TYPES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)
# Transfer encodings as written by broken mailers, mapped to what they mean.
TRANSFER_ENCODINGS = {
    "7bit": "7bit",
    "7-bit": "7bit",
    "8bit": "8bit",
    "8bits": "8bit",
    "8-bit": "8bit",
    "binary": "8bit",
    "quoted-printable": "quoted-printable",
    "base64": "base64",
    "x-uuencode": "uuencode",
    "uuencode": "uuencode",
    "x-uue": "uuencode",
    "uue": "uuencode",
}

# The labels that Message.get_payload(decode=True) decodes itself (it compares them
# exactly, in lower case, without stripping).
STDLIB_TRANSFER_ENCODINGS = frozenset(
    {"quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue"}
)

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
_BARE_ADDRESS = re.compile(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)*")
# A header field name followed by white space before the colon, which RFC 5322 section
# 4.5.3 still allows in obsolete syntax but the standard library does not read.
_OBSOLETE_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]+:")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n|$)")

MAX_FILENAME_CHARS = 255


@dataclass(frozen=True)
class Address:
    """A mailbox from an address header: display name (may be empty) and address."""

    name: str
    email: str

    @property
    def normalized(self) -> str:
        """The address in lower case, as Opsdesk compares and stores it."""
        return self.email.lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    inline: bool
    content_id: str | None = None


@dataclass(frozen=True)
class ParsedMessage:
    headers: tuple[tuple[str, str], ...]
    """Every header field in order, unfolded and with encoded words decoded."""
    subject: str
    from_addresses: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    message_id: str | None
    """The Message-ID with its angle brackets, such as ``<abc@example.com>``."""
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None
    content_type: str
    """The top-level media type in lower case, such as ``multipart/report``."""
    report_type: str | None
    """The report-type parameter of a multipart/report message, in lower case."""
    part_types: tuple[str, ...]
    """The media type of every part of the MIME tree, depth first."""
    text: str
    """The body as text: the text/plain parts, else the text of the HTML part."""
    html: str | None
    text_from_html: bool
    attachments: tuple[ParsedAttachment, ...]
    notes: tuple[str, ...] = field(default=())
    """Lenient decodes, one sentence each: unknown charsets, invalid encodings, MIME defects."""

    @property
    def sender(self) -> Address | None:
        """The first address of From:, or None when From: has no valid address."""
        return self.from_addresses[0] if self.from_addresses else None

    def header(self, name: str) -> str | None:
        """Return the first value of the header field `name` (any case), or None."""
        wanted = name.lower()
        for header_name, value in self.headers:
            if header_name.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for header_name, value in self.headers if header_name.lower() == wanted]


# Bytes and charsets ---------------------------------------------------------------


def _charset_label(charset: str | None) -> str:
    return (charset or "").strip().strip("\"'").lower()


def _codecs_for(label: str) -> tuple[str, ...]:
    """Return the Python codecs to try for a charset label; () for an unknown label."""
    if not label:
        return ("ascii", *FALLBACK_CODECS)
    if label in CHARSET_CODECS:
        return CHARSET_CODECS[label]
    try:
        return (codecs.lookup(label).name,)
    except LookupError:
        return ()


def decode_bytes(data: bytes, charset: str | None, notes: list[str]) -> str:
    """Decode `data` in `charset`, falling back to UTF-8, then Windows-1252.

    A fallback is noted in `notes`. The result always has every byte accounted for:
    undecodable bytes become U+FFFD only when no codec reads the whole input.
    """
    label = _charset_label(charset)
    candidates = _codecs_for(label)
    if label and not candidates:
        notes.append(f"unknown charset {label!r}; decoded as UTF-8 or Windows-1252")
    for codec in candidates:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    for codec in FALLBACK_CODECS:
        if codec in candidates:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if candidates and label:
            notes.append(f"text labelled {label!r} is not valid {label}; decoded as {codec}")
        return text
    codec = candidates[0] if candidates else "utf-8"
    notes.append(f"invalid bytes in {label or 'unlabelled'} text replaced with U+FFFD")
    return data.decode(codec, errors="replace")


def _recover_raw_header(value: str, notes: list[str], body_charset: str | None = None) -> str:
    """Turn the raw 8-bit bytes that the parser kept as surrogates back into text.

    RFC 6532 allows UTF-8 in headers. Older mailers wrote the charset of the body
    without saying so, which is tried next, and Windows-1252 last.
    """
    if not has_raw_bytes(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    label = _charset_label(body_charset)
    for codec in _codecs_for(label) if label else ():
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        notes.append(f"raw 8-bit header text is not UTF-8; decoded as {label}, the body charset")
        return text
    notes.append("raw 8-bit header text is not UTF-8; decoded as Windows-1252")
    return data.decode("cp1252", errors="replace")


def _decode_word(charset: str, encoding: str, payload: str) -> bytes | None:
    raw = payload.encode("ascii", "replace")
    if encoding.lower() == "q":
        return binascii.a2b_qp(raw, header=True)
    cleaned = _BASE64_JUNK.sub(b"", raw)
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except binascii.Error:
        return None


def decode_header_value(
    value: str, notes: list[str] | None = None, *, body_charset: str | None = None
) -> str:
    """Unfold a header value and decode its RFC 2047 encoded words.

    Adjacent encoded words in one charset are joined before decoding, because mailers
    split multibyte characters across them. `body_charset` is tried for raw 8-bit text.
    """
    notes = notes if notes is not None else []
    unfolded = _FOLD.sub("", _recover_raw_header(value, notes, body_charset))
    text = unfolded.replace("\r", "").replace("\n", "")
    pieces: list[tuple[str | None, bytes | str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        literal = text[position : match.start()]
        previous_encoded = bool(pieces) and pieces[-1][0] is not None
        if literal and not (previous_encoded and not literal.strip()):
            pieces.append((None, literal))
        charset = match.group(1).split("*", 1)[0].lower()
        decoded = _decode_word(charset, match.group(2), match.group(3))
        if decoded is None:
            notes.append(f"invalid encoded word {match.group(0)!r} kept as written")
            pieces.append((None, match.group(0)))
        elif pieces and pieces[-1][0] == charset:
            previous = pieces[-1][1]
            assert isinstance(previous, bytes)
            pieces[-1] = (charset, previous + decoded)
        else:
            pieces.append((charset, decoded))
        position = match.end()
    pieces.append((None, text[position:]))
    out = []
    for charset, piece in pieces:
        if charset is None:
            assert isinstance(piece, str)
            out.append(piece)
        else:
            assert isinstance(piece, bytes)
            out.append(decode_bytes(piece, charset, notes))
    return "".join(out).strip()


# Addresses and ids --------------------------------------------------------------------


def parse_addresses(raw_values: list[str], notes: list[str]) -> tuple[Address, ...]:
    """Return the valid mailboxes in the raw header values, skipping what cannot be read."""
    found: list[Address] = []
    recovered = [
        _FOLD.sub("", _recover_raw_header(value, notes)).replace("\r", "").replace("\n", " ")
        for value in raw_values
    ]
    for name, address in email.utils.getaddresses(recovered):
        address = address.strip()
        if not _looks_like_address(address):
            continue
        found.append(Address(name=decode_header_value(name, notes), email=address))
    if not found:
        # Unquoted display names and lists without commas ("Big Bug user@example.com")
        # defeat the parser; the bare addresses are still usable.
        for value in recovered:
            for address in _BARE_ADDRESS.findall(value):
                found.append(Address(name="", email=address))
        if found:
            notes.append("an address header was malformed; only its bare addresses were kept")
    return tuple(found)


def _looks_like_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return False
    return not any(char.isspace() or char in '<>,;"()[]' for char in address)


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """Return the message ids in a Message-ID, In-Reply-To or References value."""
    if not value:
        return ()
    ids = [f"<{found}>" for found in _MESSAGE_ID.findall(value)]
    if not ids:
        # Some mailers leave out the angle brackets.
        ids = [f"<{token}>" for token in value.split() if "@" in token and "<" not in token]
    unique: list[str] = []
    for message_id in ids:
        if message_id not in unique:
            unique.append(message_id)
    return tuple(unique)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed


# MIME bodies ------------------------------------------------------------------------


@dataclass
class _Collected:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    part_types: list[str] = field(default_factory=list)


def _transfer_encoding(raw: str, notes: list[str]) -> str:
    label = raw.strip().strip(";").strip().strip("\"'").lower().replace(" ", "-").replace("_", "-")
    if not label:
        return "8bit"
    known = TRANSFER_ENCODINGS.get(label)
    if known is None:
        notes.append(f"unknown Content-Transfer-Encoding {raw.strip()!r}; body read as 8bit")
        return "8bit"
    return known


def _payload_bytes(part: Message, notes: list[str]) -> bytes:
    if isinstance(part.get_payload(), list):
        return b""
    label = str(part.get("content-transfer-encoding", "") or "")
    encoding = _transfer_encoding(label, notes)
    if label.lower() in STDLIB_TRANSFER_ENCODINGS:
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""
    # The standard library returns the undecoded bytes for any other label, so
    # misspelled labels ("quoted printable", "base64;") are decoded here.
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return b""
    if encoding == "base64":
        # Padding is dropped with the junk and added back, so stray characters, missing
        # padding and line noise do not stop the decode.
        cleaned = _BASE64_JUNK.sub(b"", raw)
        if len(cleaned) % 4 == 1:
            notes.append("base64 body ends with a stray character; it was dropped")
            cleaned = cleaned[:-1]
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    if encoding == "quoted-printable":
        return quopri.decodestring(raw)
    if encoding == "uuencode":
        return _uudecode(raw, notes)
    return raw


def _uudecode(raw: bytes, notes: list[str]) -> bytes:
    out = bytearray()
    inside = False
    for line in raw.splitlines():
        stripped = line.strip()
        if not inside:
            inside = stripped.startswith(b"begin ")
            continue
        if stripped == b"end":
            break
        if not stripped:
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Some encoders pad lines wrongly, so only the characters that the length
            # byte counts are decoded.
            length = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:length])
            except binascii.Error:
                notes.append("an invalid uuencoded line was skipped")
    return bytes(out)


def _with_raw_params_recovered(part: Message, notes: list[str]) -> Message:
    """Return a stand-in for `part` whose parameter headers have raw 8-bit text decoded.

    The standard library replaces raw 8-bit bytes in parameters (an unencoded UTF-8
    filename) with U+FFFD, so the headers are decoded first and read from a copy.
    """
    raw = {name.lower(): str(value) for name, value in part.raw_items()}
    names = ("content-disposition", "content-type")
    if not any(has_raw_bytes(raw.get(name, "")) for name in names):
        return part
    copy = Message()
    for name in names:
        if name in raw:
            copy[name] = _FOLD.sub("", _recover_raw_header(raw[name], notes))
    return copy


def has_raw_bytes(value: str) -> bool:
    """Return whether `value` contains raw 8-bit bytes that the parser kept as surrogates."""
    return any("\udc80" <= char <= "\udcff" for char in value)


def _filename(part: Message, notes: list[str]) -> str | None:
    try:
        name = _with_raw_params_recovered(part, notes).get_filename()
    except (ValueError, LookupError, TypeError) as exc:
        notes.append(f"unreadable attachment filename ({exc})")
        name = None
    if name is None:
        location = part.get("content-location")
        if location:
            name = posixpath.basename(str(location).strip().split("?", 1)[0]) or None
    if name is None:
        return None
    return decode_header_value(str(name), notes)


def _safe_filename(name: str | None, content_type: str, index: int) -> str:
    cleaned = _UNSAFE_FILENAME.sub("_", name or "").strip(" .")
    if not cleaned:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        cleaned = f"attachment-{index}{extension}"
    if len(cleaned) > MAX_FILENAME_CHARS:
        stem, dot, extension = cleaned.rpartition(".")
        if dot and len(extension) < 16:
            cleaned = stem[: MAX_FILENAME_CHARS - len(extension) - 1] + "." + extension
        else:
            cleaned = cleaned[:MAX_FILENAME_CHARS]
    return cleaned


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except (ValueError, TypeError, IndexError):
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    value = part.get("content-disposition")
    if value is None:
        return None
    return str(value).split(";", 1)[0].strip().lower() or None


def _collect(part: Message, collected: _Collected, notes: list[str]) -> None:
    content_type = _content_type(part)
    collected.part_types.append(content_type)
    if content_type == "message/delivery-status" or content_type in SIGNATURE_TYPES:
        # Parsed as a list of header blocks, or a signature: nothing for a ticket.
        return
    if content_type == "message/rfc822" or (
        part.is_multipart() and content_type.startswith("message/")
    ):
        _collect_embedded(part, collected, notes)
        return
    if content_type.startswith("multipart/") and not part.is_multipart():
        # The boundary was never found, so the whole body is one block of text.
        _collect_leaf(part, "text/plain", collected, notes)
        return
    if part.is_multipart():
        children = [child for child in part.get_payload() if isinstance(child, Message)]
        if content_type == "multipart/alternative":
            _collect_alternative(children, collected, notes)
        else:
            for child in children:
                _collect(child, collected, notes)
        return
    _collect_leaf(part, content_type, collected, notes)


def _collect_alternative(children: list[Message], collected: _Collected, notes: list[str]) -> None:
    """Keep one text and one HTML rendering; attachments of every rendering are kept."""
    texts: list[str] = []
    htmls: list[str] = []
    for child in children:
        inner = _Collected()
        _collect(child, inner, notes)
        collected.part_types.extend(inner.part_types)
        collected.attachments.extend(inner.attachments)
        if inner.texts and not texts:
            texts = inner.texts
        if inner.htmls:
            # The last rendering is the richest one (RFC 2046 section 5.1.4).
            htmls = inner.htmls
    collected.texts.extend(texts)
    collected.htmls.extend(htmls)


def _collect_embedded(part: Message, collected: _Collected, notes: list[str]) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        _collect_leaf(part, "message/rfc822", collected, notes)
        return
    try:
        content = inner.as_bytes()
    except (UnicodeError, LookupError, ValueError, TypeError) as exc:
        notes.append(f"an attached message could not be serialised ({exc}); it was dropped")
        return
    subject = decode_header_value(str(inner.get("subject", "") or ""), notes)
    name = _filename(part, notes) or (f"{subject}.eml" if subject else "message.eml")
    collected.attachments.append(
        ParsedAttachment(
            filename=_safe_filename(name, "message/rfc822", len(collected.attachments) + 1),
            content_type="message/rfc822",
            content=content,
            inline=False,
        )
    )


def _collect_leaf(
    part: Message, content_type: str, collected: _Collected, notes: list[str]
) -> None:
    disposition = _disposition(part)
    filename = _filename(part, notes)
    data = _payload_bytes(part, notes)
    is_body = (
        content_type in {"text/plain", "text/html"}
        and disposition != "attachment"
        and filename is None
    )
    if is_body:
        try:
            charset = part.get_content_charset()
        except (ValueError, LookupError):
            charset = None
        text = decode_bytes(data, charset, notes)
        (collected.texts if content_type == "text/plain" else collected.htmls).append(text)
        return
    if not data and filename is None:
        return
    content_id = part.get("content-id")
    collected.attachments.append(
        ParsedAttachment(
            filename=_safe_filename(filename, content_type, len(collected.attachments) + 1),
            content_type=content_type,
            content=data,
            inline=disposition == "inline" or (disposition is None and content_id is not None),
            content_id=str(content_id).strip() if content_id else None,
        )
    )


# Entry point --------------------------------------------------------------------------


def _normalize_obsolete_fields(raw: bytes) -> bytes:
    """Remove white space between a field name and its colon in the header section."""
    lines = _LINE.findall(raw)
    changed = False
    for index, line in enumerate(lines):
        if not line.strip(b"\r\n"):
            break
        fixed = _OBSOLETE_FIELD.sub(rb"\1:", line)
        if fixed != line:
            lines[index] = fixed
            changed = True
    return b"".join(lines) if changed else raw


def _first_charset(message: Message) -> str | None:
    for part in message.walk():
        try:
            charset = part.get_content_charset()
        except (ValueError, LookupError):
            continue
        if charset:
            return str(charset)
    return None


def parse_message(raw: bytes) -> ParsedMessage:
    """Decode a whole message; what was decoded leniently is listed in its `notes`."""
    notes: list[str] = []
    message = email.message_from_bytes(_normalize_obsolete_fields(raw))
    raw_headers = [(str(name), str(value)) for name, value in message.raw_items()]
    body_charset = _first_charset(message)
    headers = tuple(
        (name, decode_header_value(value, notes, body_charset=body_charset))
        for name, value in raw_headers
    )

    def raw_values(name: str) -> list[str]:
        return [value for header_name, value in raw_headers if header_name.lower() == name]

    def first(name: str) -> str | None:
        for header_name, value in headers:
            if header_name.lower() == name:
                return value
        return None

    collected = _Collected()
    _collect(message, collected, notes)
    html = collected.htmls[0] if collected.htmls else None
    text = "\n\n".join(part.strip("\r\n") for part in collected.texts if part.strip())
    text_from_html = False
    if not text and html is not None:
        text = html_to_text(html)
        text_from_html = True
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if message.defects:
        kinds = sorted({type(defect).__name__ for defect in message.defects})
        notes.append(f"MIME defects: {', '.join(kinds)}")

    report_type: str | None = None
    content_type = _content_type(message)
    if content_type == "multipart/report":
        value = message.get_param("report-type")
        if isinstance(value, str):
            report_type = value.strip().lower()

    references = parse_message_ids(first("references"))
    message_ids = parse_message_ids(first("message-id"))
    return ParsedMessage(
        headers=headers,
        subject=first("subject") or "",
        from_addresses=parse_addresses(raw_values("from"), notes),
        to=parse_addresses(raw_values("to"), notes),
        cc=parse_addresses(raw_values("cc"), notes),
        reply_to=parse_addresses(raw_values("reply-to"), notes),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=parse_message_ids(first("in-reply-to")),
        references=references,
        date=_parse_date(first("date")),
        content_type=content_type,
        report_type=report_type,
        part_types=tuple(collected.part_types),
        text=text,
        html=html,
        text_from_html=text_from_html,
        attachments=tuple(collected.attachments),
        notes=tuple(dict.fromkeys(notes)),
    )
