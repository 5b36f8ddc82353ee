"""A small valid workspace file and helpers that break it one line at a time."""

from __future__ import annotations

from pathlib import Path

from opsdesk.errors import WorkspaceError
from opsdesk.workspace import Workspace, parse_workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TECHNICAL_SERVICES = EXAMPLES / "technical-services.yaml"
SERVICENOW_REPLAY = EXAMPLES / "servicenow-replay.yaml"

# Every optional section is present, so each kind of mistake can be made by editing one line.
VALID = """\
name: Test desk
default_calendar: office
default_priority: normal

priorities:
  - {key: low, name: Low}
  - {key: normal, name: Normal}
  - {key: urgent, name: Urgent}

contact_methods:
  - {key: email, name: Email}
  - {key: site_visit, name: Site visit, requires_site_address: true}

calendars:
  office:
    timezone: Europe/Berlin
    hours:
      mon: [["08:00", "12:00"], ["13:00", "17:00"]]
      fri: [["08:00", "24:00"]]
    holidays:
      - "2030-05-01"
      - {date: "2030-12-25", recurring: true}
      - {country: DE, subdivision: BY}

teams:
  - {key: desk, name: Desk}

pipelines:
  - key: workshop
    name: Repairs
    team: desk
    stages:
      - {key: todo, name: To do}
      - {key: waiting, name: Waiting, pauses_sla: true}
      - {key: done, name: Done, completes: true}
    operational_sla:
      targets: {low: 8h, normal: 4h, urgent: 1h30m}

service_types:
  - key: repair
    name: Repair
    pipeline: workshop
    tasks:
      - {key: fix, title: Fix it}

sla_policies:
  - key: visits
    name: Visits
    when: {contact_method: site_visit}
    targets:
      low: {first_response: PT8H, resolution: PT40H}
      normal: {first_response: PT4H, resolution: PT24H}
      urgent: {first_response: PT1H, resolution: PT8H}
  - key: standard
    name: Standard
    targets:
      low: {first_response: PT8H, resolution: PT40H}
      normal: {first_response: PT4H, resolution: PT24H}
      urgent: {first_response: 30m, resolution: 4h}

escalations:
  - key: breach
    name: Breach
    on: breach
    actions:
      - {action: raise_priority}

subscriptions:
  - key: hook
    url: https://hooks.example.com/opsdesk
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    events: [ticket.created]
"""


def edit(text: str, old: str, new: str) -> str:
    """Replace the only occurrence of `old`, so a test cannot silently edit nothing."""
    count = text.count(old)
    assert count == 1, f"expected {old!r} once in the workspace text, found it {count} times"
    return text.replace(old, new)


def line_with(text: str, fragment: str, occurrence: int | None = None) -> int:
    """Return the 1-based number of the line that contains `fragment`.

    Without `occurrence` the fragment must be on one line only; with it, the lines that
    contain the fragment are counted from 0.
    """
    numbers = [index for index, line in enumerate(text.splitlines(), 1) if fragment in line]
    if occurrence is not None:
        return numbers[occurrence]
    assert len(numbers) == 1, f"expected one line with {fragment!r}, found lines {numbers}"
    return numbers[0]


def load(text: str, environ: dict[str, str] | None = None) -> Workspace:
    return parse_workspace(text, source="test.yaml", environ=environ or {})


def problems_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    """Return the error lines the loader reports for `text`; fail if it loads."""
    try:
        load(text, environ)
    except WorkspaceError as exc:
        return exc.problems
    raise AssertionError("the workspace loaded, but an error was expected")


def problem_starting(problems: list[str], prefix: str) -> str:
    """Return the only reported error that starts with `prefix`."""
    found = [problem for problem in problems if problem.startswith(prefix)]
    assert len(found) == 1, f"expected one error starting {prefix!r}, got {problems}"
    return found[0]
