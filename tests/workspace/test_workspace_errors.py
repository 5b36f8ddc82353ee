"""Errors of the workspace loader: each names the path, the bad value and its line.

Every case edits one spot of a valid file and checks the full `path: message (line N)`
form: the error starts with the expected path and message, and ends with the line of
the bad value in the edited file.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from workspace_texts import VALID, edit, line_with, load, problem_starting, problems_of

from opsdesk.errors import WorkspaceError


@dataclass(frozen=True)
class Mistake:
    old: str
    new: str
    prefix: str
    """The start of the expected error: its path and message."""
    line_fragment: str
    """A fragment of the edited text on the line the error must name."""
    occurrence: int | None = None
    """Which line with `line_fragment` it is, counted from 0, if several have it."""


MISTAKES = {
    # Durations
    "duration_word": Mistake(
        "urgent: {first_response: 30m, resolution: 4h}",
        "urgent: {first_response: 30m, resolution: 4hours}",
        'sla_policies[1].targets.urgent.resolution: invalid duration "4hours": expected ISO '
        "8601 like PT4H or PT1H30M, or a compact form like 4h, 90m, 1h30m",
        "4hours",
    ),
    "duration_days": Mistake(
        "targets: {low: 8h,",
        "targets: {low: P1D,",
        'pipelines[0].operational_sla.targets.low: invalid duration "P1D": day, week, month '
        "and year parts are not allowed",
        "P1D",
    ),
    "duration_zero": Mistake(
        "urgent: {first_response: 30m,",
        "urgent: {first_response: PT0S,",
        'sla_policies[1].targets.urgent.first_response: invalid duration "PT0S": '
        "must be longer than zero",
        "PT0S",
    ),
    "duration_number": Mistake(
        "normal: 4h,",
        "normal: 4,",
        "pipelines[0].operational_sla.targets.normal: invalid duration 4: "
        "write it as a quoted string like PT4H",
        "normal: 4,",
    ),
    # Unknown and missing keys
    "unknown_key": Mistake(
        "    name: Repair\n",
        "    name: Repair\n    colour: red\n",
        "service_types[0].colour: unknown key; remove it or check its spelling",
        "colour: red",
    ),
    "unknown_top_level_key": Mistake(
        "name: Test desk\n",
        "name: Test desk\ntimezone: UTC\n",
        "timezone: unknown key",
        "timezone: UTC",
    ),
    "missing_key": Mistake(
        "    name: Repair\n",
        "",
        "service_types[0].name: missing required key",
        "- key: repair",
    ),
    "missing_top_level_key": Mistake(
        "default_calendar: office\n",
        "",
        "default_calendar: missing required key",
        "name: Test desk",
    ),
    "missing_action": Mistake(
        "{action: raise_priority}",
        "{steps: 2}",
        "escalations[0].actions[0]: missing key 'action'",
        "{steps: 2}",
    ),
    # Calendars
    "unknown_timezone": Mistake(
        "timezone: Europe/Berlin",
        "timezone: Mars/Olympus",
        'calendars.office.timezone: unknown time zone "Mars/Olympus"; expected an IANA name',
        "Mars/Olympus",
    ),
    "hours_overlap": Mistake(
        '["13:00", "17:00"]',
        '["11:00", "17:00"]',
        'calendars.office.hours.mon[1]: start "11:00" is before the end "12:00" of the '
        "previous range",
        '"11:00"',
    ),
    "hours_start_after_end": Mistake(
        '["08:00", "24:00"]',
        '["18:00", "08:00"]',
        'calendars.office.hours.fri[0]: start "18:00" is not before end "08:00"',
        '"18:00"',
    ),
    "hours_invalid_time": Mistake(
        '["08:00", "24:00"]',
        '["08:00", "25:00"]',
        'calendars.office.hours.fri[0][1]: invalid time "25:00"',
        '"25:00"',
    ),
    "hours_start_at_midnight_end": Mistake(
        '["08:00", "24:00"]',
        '["24:00", "24:00"]',
        'calendars.office.hours.fri[0][0]: "24:00" can only end a range, not start one',
        '"24:00", "24:00"',
    ),
    "hours_unquoted_time": Mistake(
        '["08:00", "24:00"]',
        '["08:00", 18:00]',
        'calendars.office.hours.fri[0][1]: expected a quoted "HH:MM" string, got the number 1080',
        "18:00]",
    ),
    "hours_unknown_weekday": Mistake(
        "      fri: [",
        "      friday: [",
        "calendars.office.hours.friday: unknown weekday; expected one of mon, tue",
        "friday",
    ),
    "holiday_unknown_country": Mistake(
        "{country: DE, subdivision: BY}",
        "{country: XX}",
        'calendars.office.holidays[2].country: unknown country code "XX"',
        "{country: XX}",
    ),
    "holiday_lowercase_country": Mistake(
        "{country: DE, subdivision: BY}",
        "{country: de}",
        'calendars.office.holidays[2].country: unknown country code "de"; '
        "country codes are upper case, as in 'DE'",
        "{country: de}",
    ),
    "holiday_unknown_subdivision": Mistake(
        "{country: DE, subdivision: BY}",
        "{country: DE, subdivision: ZZ}",
        'calendars.office.holidays[2].subdivision: unknown subdivision "ZZ" of country DE',
        "subdivision: ZZ",
    ),
    "holiday_invalid_date": Mistake(
        '- "2030-05-01"',
        '- "2030-02-30"',
        'calendars.office.holidays[0]: invalid date "2030-02-30", expected YYYY-MM-DD',
        "2030-02-30",
    ),
    # Identifiers and duplicates
    "key_uppercase": Mistake(
        "{key: low, name: Low}",
        "{key: Low, name: Low}",
        "priorities[0].key: invalid key 'Low': use lowercase letters, digits and underscores",
        "{key: Low",
    ),
    "mapping_key_uppercase": Mistake(
        "  office:\n",
        "  Office:\n",
        "calendars.Office: invalid key 'Office'",
        "  Office:",
    ),
    "duplicate_priority": Mistake(
        "  - {key: urgent, name: Urgent}\n",
        "  - {key: urgent, name: Urgent}\n  - {key: low, name: Low again}\n",
        "priorities[3].key: duplicate key 'low', already used by priorities[0]",
        "Low again",
    ),
    "duplicate_service_type": Mistake(
        "      - {key: fix, title: Fix it}\n",
        "      - {key: fix, title: Fix it}\n  - {key: repair, name: Again, pipeline: workshop}\n",
        "service_types[1].key: duplicate key 'repair', already used by service_types[0]",
        "name: Again",
    ),
    "duplicate_stage": Mistake(
        "{key: waiting, name: Waiting, pauses_sla: true}",
        "{key: todo, name: Waiting, pauses_sla: true}",
        "pipelines[0].stages: duplicate stage key 'todo'",
        "    stages:",
    ),
    "duplicate_task": Mistake(
        "      - {key: fix, title: Fix it}\n",
        "      - {key: fix, title: Fix it}\n      - {key: fix, title: Fix it again}\n",
        "service_types[0].tasks: duplicate task key 'fix'",
        "    tasks:",
    ),
    "duplicate_yaml_key": Mistake(
        '      fri: [["08:00", "24:00"]]\n',
        '      fri: [["08:00", "24:00"]]\n      mon: []\n',
        "calendars.office.hours.mon: duplicate key 'mon' (first defined on line 18); keep only one",
        "mon: []",
    ),
    # References between sections
    "unknown_default_calendar": Mistake(
        "default_calendar: office",
        "default_calendar: head_office",
        "default_calendar: unknown calendar 'head_office'; expected one of office",
        "head_office",
    ),
    "unknown_pipeline_calendar": Mistake(
        "    team: desk\n",
        "    team: desk\n    calendar: nights\n",
        "pipelines[0].calendar: unknown calendar 'nights'; expected one of office",
        "calendar: nights",
    ),
    "unknown_policy_calendar": Mistake(
        "    name: Standard\n",
        "    name: Standard\n    calendar: nights\n",
        "sla_policies[1].calendar: unknown calendar 'nights'; expected one of office",
        "calendar: nights",
    ),
    "unknown_team": Mistake(
        "    team: desk\n",
        "    team: field\n",
        "pipelines[0].team: unknown team 'field'; expected one of desk",
        "team: field",
    ),
    "unknown_reassign_team": Mistake(
        "{action: raise_priority}",
        "{action: reassign, team: field}",
        "escalations[0].actions[0].team: unknown team 'field'; expected one of desk",
        "team: field",
    ),
    "unknown_pipeline": Mistake(
        "    pipeline: workshop\n",
        "    pipeline: installs\n",
        "service_types[0].pipeline: unknown pipeline 'installs'; expected one of workshop",
        "pipeline: installs",
    ),
    "unknown_task_pipeline": Mistake(
        "{key: fix, title: Fix it}",
        "{key: fix, title: Fix it, pipeline: installs}",
        "service_types[0].tasks[0].pipeline: unknown pipeline 'installs'",
        "pipeline: installs",
    ),
    "unknown_default_priority": Mistake(
        "default_priority: normal",
        "default_priority: medium",
        "default_priority: unknown priority 'medium'; expected one of low, normal, urgent",
        "default_priority",
    ),
    "unknown_set_priority": Mistake(
        "{action: raise_priority}",
        "{action: set_priority, priority: critical}",
        "escalations[0].actions[0].priority: unknown priority 'critical'",
        "critical",
    ),
    "unknown_target_priority": Mistake(
        "targets: {low: 8h, normal: 4h, urgent: 1h30m}",
        "targets: {low: 8h, normal: 4h, urgent: 1h30m, critical: 1h}",
        "pipelines[0].operational_sla.targets.critical: unknown priority 'critical'; "
        "expected one of low, normal, urgent",
        "critical",
    ),
    "unknown_condition_priority": Mistake(
        "when: {contact_method: site_visit}",
        "when: {contact_method: site_visit, priority: [urgent, critical]}",
        "sla_policies[0].when.priority[1]: unknown priority 'critical'",
        "critical",
    ),
    "unknown_condition_contact_method": Mistake(
        "when: {contact_method: site_visit}",
        "when: {contact_method: carrier_pigeon}",
        "sla_policies[0].when.contact_method[0]: unknown contact method 'carrier_pigeon'; "
        "expected one of email, site_visit",
        "carrier_pigeon",
    ),
    "unknown_condition_channel": Mistake(
        "    on: breach\n",
        "    on: breach\n    when: {channel: fax}\n",
        "escalations[0].when.channel[0]: unknown channel 'fax'; expected one of api, email",
        "channel: fax",
    ),
    "unknown_status": Mistake(
        "{action: raise_priority}",
        "{action: set_status, status: archived}",
        "escalations[0].actions[0].status: input should be 'new', 'open', "
        "'waiting_on_customer', 'pending_third_party', 'resolved' or 'closed' (got 'archived')",
        "archived",
    ),
    "unknown_pause_status": Mistake(
        "    name: Standard\n",
        "    name: Standard\n    pause_on: [on_hold]\n",
        "sla_policies[1].pause_on[0]: input should be 'new', 'open'",
        "on_hold",
    ),
    "unknown_action": Mistake(
        "{action: raise_priority}",
        "{action: page_everyone}",
        "escalations[0].actions[0]: unknown action 'page_everyone'; expected one of "
        "'raise_priority', 'set_priority', 'reassign', 'set_status', 'add_note', 'notify'",
        "page_everyone",
    ),
    # Rules between sections
    "last_policy_with_when": Mistake(
        "    name: Standard\n",
        "    name: Standard\n    when: {priority: low}\n",
        "sla_policies[1].when: the last policy must have no conditions",
        "when: {priority: low}",
    ),
    "no_completing_stage": Mistake(
        "{key: done, name: Done, completes: true}",
        "{key: done, name: Done}",
        "pipelines[0].stages: no stage has completes: true, so no task could finish",
        "    stages:",
    ),
    "first_stage_completes": Mistake(
        "{key: todo, name: To do}",
        "{key: todo, name: To do, completes: true}",
        "pipelines[0].stages[0]: the first stage is where tasks start; it cannot complete them",
        "{key: todo",
    ),
    "one_stage": Mistake(
        "      - {key: todo, name: To do}\n"
        "      - {key: waiting, name: Waiting, pauses_sla: true}\n",
        "",
        "pipelines[0].stages: list should have at least 2 items after validation, not 1",
        "    stages:",
    ),
    "policy_missing_priority": Mistake(
        "      urgent: {first_response: PT1H, resolution: PT8H}\n",
        "",
        "sla_policies[0].targets: missing targets for priority 'urgent'; "
        "every priority needs an entry",
        "  targets:",
        occurrence=1,  # the first is the operational_sla of the pipeline
    ),
    "operational_missing_priority": Mistake(
        "targets: {low: 8h, normal: 4h, urgent: 1h30m}",
        "targets: {low: 8h, normal: 4h}",
        "pipelines[0].operational_sla.targets: missing targets for priority 'urgent'",
        "targets: {low: 8h, normal: 4h}",
    ),
    "warning_at_out_of_range": Mistake(
        "    name: Standard\n",
        "    name: Standard\n    warning_at: 1.5\n",
        "sla_policies[1].warning_at: input should be less than 1 (got 1.5)",
        "warning_at",
    ),
    "reassign_team_and_user": Mistake(
        "{action: raise_priority}",
        "{action: reassign, team: desk, user: lead@example.com}",
        "escalations[0].actions[0]: reassign needs exactly one of team or user",
        "action: reassign",
    ),
    "notify_nobody": Mistake(
        "{action: raise_priority}",
        "{action: notify, message: Look}",
        "escalations[0].actions[0]: notify needs a role, a team or a user",
        "action: notify",
    ),
    "reference_prefix": Mistake(
        "name: Test desk\n",
        "name: Test desk\nreference_prefix: sr-1\n",
        "reference_prefix: invalid reference prefix 'sr-1': use 1 to 6 uppercase letters",
        "sr-1",
    ),
    # Subscriptions
    "slack_with_secret": Mistake(
        "  - key: hook\n",
        "  - key: hook\n    kind: slack\n",
        "subscriptions[0].secret: slack subscriptions are not signed; remove the secret",
        "secret: whsec_",
    ),
    "invalid_secret": Mistake(
        "secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "secret: hunter2",
        "subscriptions[0].secret: invalid secret: expected whsec_ followed by at least 24 "
        "base64 characters",
        "hunter2",
    ),
    "unknown_event_type": Mistake(
        "events: [ticket.created]",
        "events: [ticket.created, ticket.exploded]",
        "subscriptions[0].events[1]: unknown event type 'ticket.exploded'; expected * or "
        "one of ticket.created",
        "ticket.exploded",
    ),
    "invalid_url": Mistake(
        "url: https://hooks.example.com/opsdesk",
        "url: hooks.example.com/opsdesk",
        "subscriptions[0].url: input should be a valid URL",
        "url: hooks",
    ),
    "unset_variable": Mistake(
        "url: https://hooks.example.com/opsdesk",
        "url: ${HOOK_URL}",
        "subscriptions[0].url: environment variable HOOK_URL is not set; "
        "set it or write ${HOOK_URL:-default}",
        "HOOK_URL",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_mistake_names_path_value_and_line(mistake: Mistake) -> None:
    text = edit(VALID, mistake.old, mistake.new)

    problems = problems_of(text)

    problem = problem_starting(problems, mistake.prefix)
    line = line_with(text, mistake.line_fragment, mistake.occurrence)
    assert problem.endswith(f" (line {line})")
    assert len(problems) == 1, problems


def test_valid_text_loads() -> None:
    workspace = load(VALID)

    assert workspace.name == "Test desk"


def test_invalid_yaml_names_line_and_column() -> None:
    text = edit(VALID, "name: Test desk", "name: [Test desk")

    problems = problems_of(text)

    assert problems == ["line 2, column 17: invalid YAML: expected ',' or ']', but got ':'"]


def test_indentation_error_names_line_and_column() -> None:
    text = edit(VALID, "  - {key: normal, name: Normal}", " - {key: normal, name: Normal}")

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith("line 7, column 2: invalid YAML: ")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just words\n"], ids=["empty", "list", "text"])
def test_top_level_must_be_mapping(text: str) -> None:
    assert problems_of(text) == ["the top level must be a mapping of keys such as name"]


def test_unknown_team_without_teams_section() -> None:
    text = edit(VALID, "teams:\n  - {key: desk, name: Desk}\n", "")

    problems = problems_of(text)

    assert problems == [
        "pipelines[0].team: unknown team 'desk'; the file defines none, so add it "
        f"(line {line_with(text, 'team: desk')})"
    ]


def test_duplicate_key_reported_for_each_repeat() -> None:
    text = edit(
        VALID,
        "  - {key: desk, name: Desk}\n",
        "  - {key: desk, name: Desk}\n  - {key: desk, name: Two}\n  - {key: desk, name: Three}\n",
    )

    problems = problems_of(text)

    assert problems == [
        "teams[1].key: duplicate key 'desk', already used by teams[0]; each teams entry "
        f"needs its own key (line {line_with(text, 'Two')})",
        "teams[2].key: duplicate key 'desk', already used by teams[0]; each teams entry "
        f"needs its own key (line {line_with(text, 'Three')})",
    ]


def test_structure_errors_reported_together() -> None:
    text = edit(VALID, "{key: low, name: Low}", "{key: Low, name: Low}")
    text = edit(text, "    name: Repair\n", "    name: Repair\n    colour: red\n")
    text = edit(text, "resolution: 4h}", "resolution: 4hours}")
    text = edit(text, "{action: raise_priority}", "{action: set_status, status: archived}")
    text = edit(text, "    timezone: Europe/Berlin\n", "")

    problems = problems_of(text)

    assert len(problems) == 5, problems
    assert problem_starting(problems, "priorities[0].key: invalid key 'Low'")
    assert problem_starting(problems, "service_types[0].colour: unknown key")
    assert problem_starting(problems, "sla_policies[1].targets.urgent.resolution: invalid")
    assert problem_starting(problems, "escalations[0].actions[0].status: input should be")
    assert problem_starting(problems, "calendars.office.timezone: missing required key")


def test_reference_errors_reported_together() -> None:
    text = edit(VALID, "timezone: Europe/Berlin", "timezone: Mars/Olympus")
    text = edit(text, "    team: desk\n", "    team: field\n")
    text = edit(text, "    pipeline: workshop\n", "    pipeline: installs\n")
    text = edit(text, "{key: done, name: Done, completes: true}", "{key: done, name: Done}")
    text = edit(text, "    name: Standard\n", "    name: Standard\n    when: {priority: low}\n")
    text = edit(text, "  - key: hook\n", "  - key: hook\n    kind: slack\n")
    text = edit(text, "events: [ticket.created]", "events: [ticket.exploded]")

    problems = problems_of(text)

    assert len(problems) == 7, problems
    assert problem_starting(problems, "calendars.office.timezone: unknown time zone")
    assert problem_starting(problems, "pipelines[0].team: unknown team 'field'")
    assert problem_starting(problems, "service_types[0].pipeline: unknown pipeline")
    assert problem_starting(problems, "pipelines[0].stages: no stage has completes")
    assert problem_starting(problems, "sla_policies[1].when: the last policy")
    assert problem_starting(problems, "subscriptions[0].secret: slack subscriptions")
    assert problem_starting(problems, "subscriptions[0].events[0]: unknown event type")


def test_each_calendar_reports_its_error() -> None:
    second_calendar = (
        "  nights:\n"
        "    timezone: Atlantis/Capital\n"
        '    hours: {tue: [["18:00", "08:00"]]}\n'
        "teams:\n"
    )
    text = edit(VALID, "timezone: Europe/Berlin", "timezone: Mars/Olympus")
    text = edit(text, "teams:\n", second_calendar)

    problems = problems_of(text)

    assert len(problems) == 2, problems
    assert problem_starting(problems, 'calendars.office.timezone: unknown time zone "Mars')
    assert problem_starting(problems, 'calendars.nights.timezone: unknown time zone "Atlan')


def test_unset_variable_reported_with_other_errors() -> None:
    text = edit(VALID, "url: https://hooks.example.com/opsdesk", "url: ${HOOK_URL}")
    text = edit(text, "resolution: 4h}", "resolution: 4hours}")

    problems = problems_of(text)

    assert len(problems) == 2, problems
    assert problem_starting(problems, "subscriptions[0].url: environment variable HOOK_URL")
    assert problem_starting(problems, "sla_policies[1].targets.urgent.resolution: invalid")


def test_unset_variable_hides_error_of_empty_value() -> None:
    text = edit(VALID, "name: Test desk", "name: ${DESK_NAME}")

    problems = problems_of(text)

    assert problems == [
        "name: environment variable DESK_NAME is not set; set it or write "
        "${DESK_NAME:-default} (line 1)"
    ]


def test_error_message_counts_errors() -> None:
    text = edit(VALID, "default_priority: normal", "default_priority: medium")
    text = edit(text, "    team: desk\n", "    team: field\n")

    with pytest.raises(WorkspaceError) as caught:
        load(text)

    assert caught.value.source == "test.yaml"
    assert str(caught.value) == (
        "test.yaml has 2 error(s):\n"
        "  default_priority: unknown priority 'medium'; expected one of low, normal, urgent "
        "(line 3)\n"
        "  pipelines[0].team: unknown team 'field'; expected one of desk "
        f"(line {line_with(text, 'team: field')})"
    )
