"""Turn an HTML mail body into plain text.

With `mark_quotes`, text inside the containers that mail clients use for the quoted
previous message (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg``
and ``OLK_SRC_BODY_SECTION``, Yahoo's ``yahoo_quoted``) is prefixed with ``> `` once per
level, so the plain-text reply rules in `opsdesk.mail.reply` can remove it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is never shown as text.
HIDDEN = frozenset({"head", "script", "style", "title", "template", "xml", "noscript"})
# Elements that end a line before and after their content.
BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
        "blockquote",
    }
)
# Elements that separate paragraphs with a blank line.
PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
QUOTE_CLASSES = frozenset({"gmail_quote", "yahoo_quoted", "moz-forward-container"})
QUOTE_IDS = frozenset({"divrplyfwdmsg", "olk_src_body_section", "appendonsend"})

_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _TextBuilder(HTMLParser):
    def __init__(self, *, mark_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.mark_quotes = mark_quotes
        # Each open element with whether it starts a quote and whether it hides text.
        self.stack: list[tuple[str, bool, bool]] = []
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.hidden_depth = 0
        self.pre_depth = 0
        self.pending_blank = False

    # Output ------------------------------------------------------------------

    def _end_line(self) -> None:
        text = "".join(self.current).strip(" ")
        self.current = []
        if text:
            if self.pending_blank and self.lines and self.lines[-1][1] != "":
                self.lines.append((self.quote_depth, ""))
            self.pending_blank = False
            self.lines.append((self.quote_depth, text))

    def _break(self, *, blank: bool = False) -> None:
        if self.current and "".join(self.current).strip(" "):
            self._end_line()
        else:
            self.current = []
        if blank:
            self.pending_blank = True

    # Parser callbacks ----------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag == "br":
            if self.hidden_depth == 0:
                if "".join(self.current).strip():
                    self._end_line()
                else:
                    # A <br> on an empty line, as in <br><br>, separates paragraphs.
                    self.current = []
                    self.pending_blank = bool(self.lines)
            return
        if tag == "hr":
            self._break(blank=True)
            return
        if tag in VOID:
            return
        attributes = {name.lower(): (value or "") for name, value in attrs}
        starts_quote = self.mark_quotes and _is_quote(tag, attributes)
        hides = tag in HIDDEN
        if tag in BLOCKS:
            self._break(blank=tag in PARAGRAPHS)
        self.stack.append((tag, starts_quote, hides))
        if starts_quote:
            self.quote_depth += 1
        if hides:
            self.hidden_depth += 1
        if tag == "pre":
            self.pre_depth += 1
        if tag == "li" and self.hidden_depth == 0:
            self.current.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag.lower() not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in VOID or not any(open_tag == tag for open_tag, _, _ in self.stack):
            return
        # Close every element left open inside this one, as browsers do.
        while self.stack:
            open_tag, starts_quote, hides = self.stack.pop()
            if open_tag in BLOCKS:
                self._break(blank=open_tag in PARAGRAPHS)
            if starts_quote:
                self._break()
                self.quote_depth -= 1
            if hides:
                self.hidden_depth -= 1
            if open_tag == "pre":
                self.pre_depth -= 1
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        if self.pre_depth:
            pieces = data.replace("\r\n", "\n").split("\n")
            for index, piece in enumerate(pieces):
                if index:
                    self._end_line()
                self.current.append(piece.replace("\u00a0", " "))
            return
        text = _SPACES.sub(" ", data)
        if not self.current or "".join(self.current).endswith(" "):
            text = text.lstrip(" ")
        self.current.append(text)

    def text(self) -> str:
        self._break()
        rendered = []
        for depth, line in self.lines:
            prefix = "> " * depth if line else ">" * depth
            rendered.append(f"{prefix}{line}".rstrip() if depth else line)
        return "\n".join(rendered).strip("\n")


def _is_quote(tag: str, attributes: dict[str, str]) -> bool:
    if tag == "blockquote":
        return True
    classes = set(attributes.get("class", "").lower().split())
    if classes & QUOTE_CLASSES:
        return True
    return attributes.get("id", "").lower() in QUOTE_IDS


def html_to_text(html: str, *, mark_quotes: bool = False) -> str:
    """Return the visible text of `html`, one line per block or ``<br>``.

    Scripts, styles and comments are dropped, and runs of blank lines become one.
    Unbalanced or broken markup is read as leniently as a browser would.
    """
    builder = _TextBuilder(mark_quotes=mark_quotes)
    builder.feed(html)
    builder.close()
    return builder.text()
