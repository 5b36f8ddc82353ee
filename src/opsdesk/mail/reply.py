"""Extract the new text of a reply from a mail body.

`strip_quotation` removes the quoted previous message: an attribution line such as
"On Tue, 2 Apr 2012 at 18:02, Bob <bob@example.com> wrote:" (also wrapped over two or
three lines, and in a few other languages), ``>`` quoted lines, an Outlook header block
(From:/Sent:/To:/Subject:), "-----Original Message-----" and a mailing-list footer.
Text written between quoted blocks (inline answers, bottom posting) is kept.
`strip_signature` removes a signature that starts at a "-- " line or a "Sent from my
iPhone" style line. `extract_reply` does both.

The rules read the text line by line. A line is only an attribution when it ends with
"wrote:" (or its translation) and starts like one, so a sentence that starts with "On"
stays. A forwarded message ("---------- Forwarded message ----------") is kept whole.
"""

from __future__ import annotations

import re

from opsdesk.mail.html import html_to_text

_WROTE = (
    r"(?:wrote|writes|a écrit|schrieb|escribió|ha scritto|schreef|skrev|kirjoitti|escreveu"
    r"|napisał|napisała|napsal|napsala|yazdı|írta|написал|написала|написал\(а\))"
)
_ATTRIBUTION_END = re.compile(_WROTE + r"\s*:\s*$", re.IGNORECASE)
# How an attribution starts: "On <date>", its translations, or the date itself.
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:(?:On|Le|Am|El|Il|Op|Em|Den|På|Dne|W dniu)\s|\d)", re.IGNORECASE
)
# A line that introduces a quote without "wrote": "26.06.2014, 14:41, Bob <b@x.org>:".
_DATE_LIKE = re.compile(r"\d{1,4}[./:-]\d{1,2}")
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine"
    r"|mensaje original|messaggio originale|oorspronkelijk bericht|originalmeddelande"
    r"|исходное сообщение|oryginalna wiadomość|původní zpráva|alkuperäinen viesti)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transféré)"
    r"\s*-{2,}|begin forwarded message:)\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"^\s*(?:_{5,}|-{5,})\s*$")
_LIST_FOOTER = re.compile(r"mailing list\s*$", re.IGNORECASE)

# Field names of the header block that Outlook and webmail put above the quoted message.
_FROM_FIELDS = frozenset(
    {"from", "von", "de", "da", "van", "från", "fra", "od", "от", "kimden", "lähettäjä"}
)
_OTHER_FIELDS = frozenset(
    {
        "sent",
        "date",
        "to",
        "cc",
        "subject",
        "gesendet",
        "datum",
        "an",
        "betreff",
        "envoyé",
        "à",
        "objet",
        "enviado",
        "fecha",
        "para",
        "asunto",
        "inviato",
        "oggetto",
        "verzonden",
        "aan",
        "onderwerp",
        "skickat",
        "till",
        "ämne",
        "sendt",
        "til",
        "emne",
        "wysłane",
        "temat",
        "отправлено",
        "дата",
        "кому",
        "тема",
        "копия",
    }
)
_FIELD = re.compile(r"^[\s*_]*([^\W\d_][^\W\d]*(?: [^\W\d_]+)?)[\s*_]*:")
HEADER_BLOCK_LINES = 7

_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:sent from my [\w'-]+(?: [\w'-]+){0,4}"
    r"|sent from (?:mail|outlook|yahoo mail) for [\w' -]+"
    r"|sent from yahoo mail on android"
    r"|get outlook for (?:ios|android))\.?\s*$",
    re.IGNORECASE,
)


def _is_quoted(line: str) -> bool:
    return line.lstrip(" \t").startswith(">")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _next_nonblank(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if not _is_blank(lines[index]):
            return index
    return None


def _attribution(lines: list[str], start: int) -> tuple[int, bool] | None:
    """Return (index after the attribution, whether it is certain), or None.

    A certain attribution starts like one ("On …", a date) and ends with "wrote:" within
    three unbroken lines. Any single line ending with "wrote:", or a line that ends with a
    colon and holds an address or a date, is a possible attribution: it counts only when
    a quote follows.
    """
    first = lines[start]
    if _is_blank(first) or _is_quoted(first):
        return None
    joined = ""
    for end in range(start, min(start + 3, len(lines))):
        line = lines[end]
        if _is_blank(line) or _is_quoted(line):
            break
        joined = f"{joined} {line.strip()}".strip()
        if _ATTRIBUTION_END.search(joined):
            certain = bool(_ATTRIBUTION_START.match(first)) and any(
                char.isdigit() for char in joined
            )
            if certain:
                return end + 1, True
            if end == start:
                return end + 1, False
            return None
    stripped = first.strip()
    if stripped.endswith(":") and ("@" in stripped or _DATE_LIKE.search(stripped)):
        return start + 1, False
    return None


def _field_name(line: str) -> str | None:
    match = _FIELD.match(line)
    return match.group(1).lower() if match else None


def _is_header_block(lines: list[str], start: int) -> bool:
    """Whether an Outlook-style header block (From:, Sent:, To:, Subject:) starts here."""
    first = _field_name(lines[start])
    if first is None or (first not in _FROM_FIELDS and first not in _OTHER_FIELDS):
        return False
    seen_from = False
    others: set[str] = set()
    for line in lines[start : start + HEADER_BLOCK_LINES]:
        name = _field_name(line)
        if name in _FROM_FIELDS:
            seen_from = True
        elif name in _OTHER_FIELDS:
            others.add(name)
    return seen_from and len(others) >= 2


def _is_list_footer(lines: list[str], start: int) -> bool:
    if not _SEPARATOR.match(lines[start]) or "_" not in lines[start]:
        return False
    following = _next_nonblank(lines, start + 1)
    return following is not None and bool(_LIST_FOOTER.search(lines[following]))


def _trim(lines: list[str]) -> str:
    while lines and (_is_blank(lines[-1]) or _SEPARATOR.match(lines[-1])):
        lines.pop()
    while lines and _is_blank(lines[0]):
        lines.pop(0)
    return "\n".join(lines).strip()


def _split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def strip_quotation(text: str) -> str:
    """Return `text` without the quoted previous message; signatures stay."""
    lines = _split_lines(text)
    kept: list[str] = []
    removed_quote = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FORWARD_MARKER.match(line):
            kept.extend(lines[index:])
            break
        if (
            _ORIGINAL_MESSAGE.match(line)
            or _is_list_footer(lines, index)
            or (not _is_quoted(line) and _is_header_block(lines, index))
        ):
            break
        attribution = _attribution(lines, index)
        if attribution is not None:
            after, certain = attribution
            following = _next_nonblank(lines, after)
            if following is None:
                break
            if _is_quoted(lines[following]):
                index = following
                continue
            if certain:
                # The client quoted without ">" marks, so the rest is the old message.
                break
        if _is_quoted(line):
            removed_quote = True
            index += 1
            continue
        if _is_blank(line) and removed_quote and kept and _is_blank(kept[-1]):
            index += 1
            continue
        if not _is_blank(line):
            removed_quote = False
        kept.append(line)
        index += 1
    return _trim(kept)


def strip_signature(text: str) -> str:
    """Return `text` without a trailing signature.

    A signature starts at a "-- " (or "--") line or at a line such as "Sent from my
    iPhone". Nothing is removed when the signature would be all of the text.
    """
    lines = _split_lines(text)
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) or _MOBILE_SIGNATURE.match(line):
            remaining = _trim(lines[:index])
            if remaining:
                return remaining
            break
    return _trim(lines)


def extract_reply(text: str) -> str:
    """Return the new text of a plain-text reply: no quotation, no signature."""
    return strip_signature(strip_quotation(text))


def extract_reply_html(html: str) -> str:
    """Return the new text of an HTML reply as plain text."""
    return extract_reply(html_to_text(html, mark_quotes=True))
