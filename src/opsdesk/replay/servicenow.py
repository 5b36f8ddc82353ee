"""Read the ServiceNow incident audit log (UCI "Incident management process enriched event log").

One CSV row per update of an incident; every row carries the incident's whole state at that
update. Timestamps are day-first (``29/2/2016 01:16``) without seconds or time zone; the
replay reads them as UTC because the log names no zone. Missing values are ``?``.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from opsdesk.errors import InvalidInput

PRIORITIES = {
    "1 - Critical": "urgent",
    "2 - High": "high",
    "3 - Moderate": "medium",
    "4 - Low": "low",
}
STATES = {
    "New": "new",
    "Active": "open",
    "Awaiting User Info": "waiting_on_customer",
    "Awaiting Problem": "pending_third_party",
    "Awaiting Vendor": "pending_third_party",
    "Awaiting Evidence": "pending_third_party",
    "Resolved": "resolved",
    "Closed": "closed",
}
CONTACT_METHODS = {
    "Phone": "phone",
    "Self service": "self_service",
    "Email": "email",
    "IVR": "ivr",
    "Direct opening": "direct_opening",
}
REQUIRED_COLUMNS = (
    "number",
    "incident_state",
    "sys_mod_count",
    "made_sla",
    "caller_id",
    "opened_at",
    "sys_updated_at",
    "contact_type",
    "category",
    "subcategory",
    "u_symptom",
    "priority",
    "assignment_group",
)


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One audit row, with values already mapped to the replay workspace's keys."""

    line: int
    number: str
    state: str | None
    """None for a state the log marks as anomalous (-100)."""
    priority: str
    team: str | None
    contact_method: str
    opened_at: datetime
    updated_at: datetime
    mod_count: int
    made_sla: bool
    caller: str
    subject: str


def parse_timestamp(text: str, *, line: int, column: str) -> datetime:
    try:
        return _parse_timestamp(text)
    except ValueError:
        raise InvalidInput(
            f"line {line}: invalid {column} {text!r}; expected D/M/YYYY HH:MM"
        ) from None


@lru_cache(maxsize=65536)
def _parse_timestamp(text: str) -> datetime:
    # Most instants repeat across an incident's rows, and strptime is slow enough to
    # show up when 141,712 rows are read twice each.
    day_month_year, _, hour_minute = text.partition(" ")
    day, month, year = day_month_year.split("/")
    hour, minute = hour_minute.split(":")
    if len(year) != 4 or len(hour) != 2 or len(minute) != 2:
        raise ValueError(text)
    return datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)


def team_key(group: str) -> str | None:
    """``Group 56`` becomes ``group_56``; ``?`` (no group) becomes None."""
    if group == "?":
        return None
    return group.strip().lower().replace(" ", "_")


def read_rows(path: Path) -> Iterator[IncidentRow]:
    """Yield the rows of the log in file order; raise InvalidInput naming the line on bad data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(
                f"{path}: not a ServiceNow incident log; missing columns {', '.join(missing)}"
            )
        for line, row in enumerate(reader, start=2):
            priority = PRIORITIES.get(row["priority"])
            if priority is None:
                raise InvalidInput(f"line {line}: unknown priority {row['priority']!r}")
            contact = CONTACT_METHODS.get(row["contact_type"])
            if contact is None:
                raise InvalidInput(f"line {line}: unknown contact_type {row['contact_type']!r}")
            state_text = row["incident_state"]
            if state_text not in STATES and state_text != "-100":
                raise InvalidInput(f"line {line}: unknown incident_state {state_text!r}")
            yield IncidentRow(
                line=line,
                number=row["number"],
                state=STATES.get(state_text),
                priority=priority,
                team=team_key(row["assignment_group"]),
                contact_method=contact,
                opened_at=parse_timestamp(row["opened_at"], line=line, column="opened_at"),
                updated_at=parse_timestamp(
                    row["sys_updated_at"], line=line, column="sys_updated_at"
                ),
                mod_count=int(row["sys_mod_count"]),
                made_sla=row["made_sla"] == "true",
                caller=row["caller_id"],
                subject=f"{row['category']} / {row['subcategory']}: {row['u_symptom']}",
            )
