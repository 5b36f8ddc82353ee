"""Extracting the new text of a reply from real clients' quoting styles."""

from __future__ import annotations

import pytest
from mail_support import corpus_path

from opsdesk.mail.parse import parse_message
from opsdesk.mail.reply import (
    extract_reply,
    extract_reply_html,
    strip_quotation,
    strip_signature,
)

STANDARD = "talon/standard_replies"

# For the talon replies without an expected file: the reply is "Hello" and this text of
# the quotation (its attribution or header block) must be gone.
QUOTE_MARKERS = {
    "android.eml": "написал",
    "aol.eml": "Original Message",
    "apple_mail.eml": "wrote:",
    "apple_mail_2.eml": "wrote:",
    "comcast.eml": "Original Message",
    "gmail.eml": "wrote:",
    "hotmail.eml": "Subject: Test",
    "outlook.eml": "Sent: March-09-12",
    "thunderbird.eml": "wrote:",
    "yahoo.eml": "Original Message",
}

# email_reply_parser bodies: text that must stay and text that must go, read from each file.
REPLY_PARSER_CASES: dict[str, tuple[list[str], list[str]]] = {
    "correct_sig.txt": (["this is an email with a correct -- signature."], ["person46"]),
    "email_1_1.txt": (
        ["Hi folks", "I am currently using the Java HTTP API.", "-Person33 Surname33"],
        ["riak-users mailing list", "listinfo"],
    ),
    "email_1_2.txt": (
        [
            "Hi,",
            "You can list the keys for the bucket and call delete for each.",
            "riakClient.delete(bucket, key);",
            "would do it.",
            "need to delete them all individually.",
        ],
        ["wrote:", "> Hi folks", "What is the best way", "riak-users mailing list"],
    ),
    "email_1_3.txt": (
        ["Oh thanks.", "Having the function would be great.", "-Person33 Surname33"],
        ["wrote:", "You can list the keys", "riak-users mailing list"],
    ),
    "email_1_4.txt": (
        ["Awesome! I haven't had another problem with it."],
        ["wrote:", "Loader seems to be working well."],
    ),
    "email_1_5.txt": (
        [
            "One: Here's what I've got.",
            "- This would be the first bullet point that wraps to the second line",
            "- This is the fourth bullet point",
            "- And another one",
            "for a while.",
        ],
        [],
    ),
    "email_1_6.txt": (
        ["I get proper rendering as well.", "Sent from a magnificent torch of pixels"],
        ["wrote:", "Person35 Surname35", "reply@reply.github.com", "Was this caching"],
    ),
    "email_1_7.txt": ([":+1:"], ["wrote:", "notifications@github.com", "Steps 0-2"]),
    "email_1_8.txt": (
        ["I will reply under this one", "and under this."],
        ["wrote:", "okay.", "okay?", "hi there", "Hey there, this is my signature"],
    ),
    "email_2_1.txt": (
        ["Outlook with a reply"],
        ["From:", "Google Apps Sync", "-----"],
    ),
    "email_2_2.txt": (
        ["Outlook with a reply directly above line"],
        ["From:", "CRM Comments", "_____", "A new comment has been added"],
    ),
    "email_2_3.txt": (
        ["Outlook with a reply directly above line"],
        ["From:", "Subject:", "A new comment has been added"],
    ),
    "email_BlackBerry.txt": (["Here is another email"], ["Sent from my BlackBerry"]),
    "email_bullets.txt": (
        [
            "test 2 this should list second",
            "and have spaces",
            "and retain this formatting",
            "   - how about bullets",
            "   - and another",
        ],
        ["wrote:", "Give us an example", "Person47 Surname47"],
    ),
    "email_iPhone.txt": (["Here is another email"], ["Sent from my iPhone"]),
    "email_multi_word_sent_from_my_mobile_device.txt": (
        ["Here is another email"],
        ["Sent from my Verizon Wireless BlackBerry"],
    ),
    "email_one_is_not_on.txt": (
        [
            "Thank, this is really helpful.",
            "One outstanding question I had:",
            "Locally (on development), when I run...",
        ],
        ["wrote:", "The good news is"],
    ),
    "email_sent_from_my_not_signature.txt": (
        ["Here is another email", "Sent from my desk, is much easier then my mobile phone."],
        [],
    ),
    "email_sig_delimiter_in_middle_of_line.txt": (
        ["Hi there!", "And here is a fix -- this is not a signature.", "kthxbai"],
        [],
    ),
    "greedy_on.txt": (
        [
            "On your remote host you can run:",
            "     telnet 127.0.0.1 52698",
            "This should connect to TextMate (on your Mac, via the tunnel). If that",
            "fails, the tunnel is not working.",
        ],
        ["wrote:", "Person40 Surname40", "I am having an odd issue", "rmate/issues"],
    ),
}

HTML_REPLIES = (
    "gmail.html",
    "hotmail.html",
    "mail_ru.html",
    "ms_outlook_2003.html",
    "ms_outlook_2007.html",
    "ms_outlook_2010.html",
    "thunderbird.html",
    "windows_mail.html",
    "yandex_ru.html",
)


def read_text(relative: str) -> str:
    return corpus_path(relative).read_bytes().decode("utf-8")


def body_of(relative: str) -> str:
    return parse_message(corpus_path(relative).read_bytes()).text


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["iphone", "sparrow"])
def test_talon_reply_matches_expected_file(name: str) -> None:
    expected = read_text(f"{STANDARD}/{name}_reply_text").strip()

    assert strip_quotation(body_of(f"{STANDARD}/{name}.eml")) == expected


@pytest.mark.shared_data
@pytest.mark.parametrize("filename", sorted(QUOTE_MARKERS))
def test_talon_reply_without_quote(filename: str) -> None:
    reply = strip_quotation(body_of(f"{STANDARD}/{filename}"))

    assert reply.splitlines()[0].strip() == "Hello"
    assert QUOTE_MARKERS[filename] not in reply
    assert "Hi" not in reply.splitlines()[1:]
    assert not any(line.startswith(">") for line in reply.splitlines())


@pytest.mark.shared_data
@pytest.mark.parametrize("filename", sorted(REPLY_PARSER_CASES))
def test_reply_parser_sample(filename: str) -> None:
    kept, dropped = REPLY_PARSER_CASES[filename]

    reply = extract_reply(read_text(f"email_reply_parser/{filename}"))

    for text in kept:
        assert text in reply, f"{text!r} missing from {reply!r}"
    for text in dropped:
        assert text not in reply, f"{text!r} left in {reply!r}"


@pytest.mark.shared_data
def test_reply_parser_inline_answers_keep_order() -> None:
    reply = extract_reply(read_text("email_reply_parser/email_1_8.txt"))

    assert reply == "I will reply under this one\n\nand under this."


@pytest.mark.shared_data
@pytest.mark.parametrize("filename", HTML_REPLIES)
def test_talon_html_reply(filename: str) -> None:
    reply = extract_reply_html(read_text(f"talon/html_replies/{filename}"))

    lines = [line for line in reply.splitlines() if line.strip()]
    assert lines == ["Hi. I am fine.", "Thanks,", "Person48"]


@pytest.mark.shared_data
def test_outlook_mac_source_section() -> None:
    reply = extract_reply_html(read_text("talon/OLK_SRC_BODY_SECTION.html"))

    assert reply == "Reply"


@pytest.mark.shared_data
def test_reply_separated_by_rule() -> None:
    reply = extract_reply_html(read_text("talon/reply-separated-by-hr.html"))

    assert reply.splitlines() == ["Hi", "there", "Bob"]


@pytest.mark.shared_data
def test_yahoo_share_block() -> None:
    reply = extract_reply(body_of("talon/reply-quotations-share-block.eml"))

    assert reply.startswith("Hi Katharine.")
    assert reply.endswith("Joe XXX")
    assert "wrote:" not in reply
    assert "New Booking Inquiry" not in reply


def test_sentence_starting_with_on_kept() -> None:
    text = "On Monday the inverter failed twice.\nOn 3 May it failed again.\n\nPlease help."

    assert extract_reply(text) == text


def test_attribution_wrapped_over_two_lines() -> None:
    text = (
        "The fuse is fine.\n\n"
        "On Tue, 10 Mar 2026 at 09:00, Brightline Support\n"
        "<support@brightline.example> wrote:\n"
        "> Please check the fuse.\n"
    )

    assert extract_reply(text) == "The fuse is fine."


def test_attribution_without_quote_marks_cuts_rest() -> None:
    text = (
        "Thanks, Tuesday works.\n\n"
        "On 10.03.2026 09:00, Brightline Support wrote:\n"
        "We can come on Tuesday or Wednesday.\n"
    )

    assert extract_reply(text) == "Thanks, Tuesday works."


def test_original_message_marker() -> None:
    text = "Done.\n\n-----Original Message-----\nFrom: x@example.com\nThe old text\n"

    assert extract_reply(text) == "Done."


def test_localized_outlook_header_block() -> None:
    text = (
        "Danke, passt.\n\n"
        "Von: Brightline Support\nGesendet: Dienstag, 10. März 2026 09:00\n"
        "An: Ada Obi\nBetreff: Termin\n\nWir kommen am Dienstag.\n"
    )

    assert extract_reply(text) == "Danke, passt."


def test_header_like_lines_alone_kept() -> None:
    text = "To: whom it may concern\n\nThe generator is down."

    assert extract_reply(text) == text


def test_forwarded_message_kept() -> None:
    text = (
        "Please see below.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Tenant <tenant@example.com>\nDate: Mon, 9 Mar 2026\n"
        "Subject: No power\nTo: ada@example.com\n\nThe flat has no power since noon.\n"
    )

    reply = strip_quotation(text)

    assert "The flat has no power since noon." in reply
    assert "Forwarded message" in reply


def test_signature_delimiter() -> None:
    assert strip_signature("Fixed, thanks.\n\n-- \nAda Obi\n+234 803 555 0101") == (
        "Fixed, thanks."
    )


@pytest.mark.parametrize(
    "line",
    [
        "Sent from my iPhone",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from Mail for Windows",
        "Get Outlook for Android",
    ],
)
def test_mobile_signatures(line: str) -> None:
    assert extract_reply(f"Please come tomorrow.\n\n{line}\n") == "Please come tomorrow."


def test_signature_only_message_kept() -> None:
    assert strip_signature("-- \nAda Obi") == "-- \nAda Obi"


def test_quote_without_attribution_dropped() -> None:
    text = "> Is the breaker on?\nYes, it is on.\n> Any smell of burning?\nNo."

    assert extract_reply(text) == "Yes, it is on.\nNo."
