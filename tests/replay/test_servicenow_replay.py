"""The replay of the public ServiceNow incident log, checked against figures read from the file."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest

from opsdesk.db import Database
from opsdesk.replay.runner import replay
from opsdesk.replay.servicenow import read_rows
from opsdesk.settings import Settings
from opsdesk.workspace import load_workspace
from support import ROOT, require_shared, shared_data_dir

LOG = Path("incidents") / "uci-servicenow-incident-event-log" / "incident_event_log.csv.gz"
WORKSPACE = ROOT / "examples" / "servicenow-replay.yaml"
# The log's own priority labels, mapped by hand to the replay workspace's keys.
PRIORITY_KEYS = {
    "1 - Critical": "urgent",
    "2 - High": "high",
    "3 - Moderate": "medium",
    "4 - Low": "low",
}


def figures_from_file(path: Path) -> tuple[int, int, Counter[str], Counter[str]]:
    """Count rows, incidents, each incident's final priority and final made_sla.

    Written with the csv module alone, so it shares nothing with the replay's reader.
    """
    last_rows: dict[str, dict[str, str]] = {}
    rows = 0
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            rows += 1
            last_rows[row["number"]] = row
    priorities = Counter(PRIORITY_KEYS[row["priority"]] for row in last_rows.values())
    made_sla = Counter(row["made_sla"] for row in last_rows.values())
    return rows, len(last_rows), priorities, made_sla


@pytest.mark.slow
async def test_full_log_replay_matches_file(database_url: str, db: Database) -> None:
    log = require_shared(shared_data_dir() / LOG, "the ServiceNow incident log")
    rows, incidents, priorities, made_sla = figures_from_file(log)
    # The figures the data set's publishers state, as a check on the counting above.
    assert (rows, incidents) == (141_712, 24_918)

    report = await replay(
        log,
        workspace=load_workspace(WORKSPACE),
        database=db,
        settings=Settings(database_url=database_url),
    )

    assert report.events == rows
    assert report.incidents == incidents
    assert {key: figures.tickets for key, figures in report.by_priority.items()} == dict(priorities)
    assert report.total.tickets == incidents
    for key, figures in report.by_priority.items():
        outcomes = figures.resolution_met + figures.resolution_breached + figures.unresolved_at_end
        assert outcomes == figures.tickets, key
        assert figures.first_response_met + figures.first_response_breached <= figures.tickets, key
        assert figures.agreement is not None
        assert 0 <= figures.agreement <= 1
    # Every incident the log says missed its SLA but Opsdesk calls met, or the other way
    # round, lowers agreement; both directions occur, so it can be neither 0 nor 1.
    assert made_sla["true"] + made_sla["false"] == incidents
    assert 0.5 < (report.total.agreement or 0) < 1
    assert report.skipped_events["anomalous state"] == 5


def test_reader_maps_every_row() -> None:
    log = require_shared(shared_data_dir() / LOG, "the ServiceNow incident log")
    states = Counter(row.state for row in read_rows(log))
    assert states[None] == 5
    assert states["waiting_on_customer"] == 14_642
    assert states["pending_third_party"] == 707 + 461 + 38
    assert sum(states.values()) == 141_712
