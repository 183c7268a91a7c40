"""docs/metrics.md lists exactly the metrics code emits (tests/metric_names.py reads the code)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.metric_names import (
    emitted_metric_names,
    emitted_metric_patterns,
    is_emitted,
    unresolved_emitters,
)

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
_SECTION = "## Calbridge metrics"
_ROW = re.compile(r"^\|\s*`([A-Za-z0-9]+)`\s*\|")


def catalogued_metric_names() -> list[str]:
    """The first column of the catalogue's table of calbridge metrics (not the AWS metrics after it)."""
    text = CATALOGUE.read_text(encoding="utf-8")
    section = text.split(_SECTION, 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for line in section.splitlines() if (m := _ROW.match(line))]


def test_the_scanner_reads_every_metric_name_in_the_code():
    assert unresolved_emitters() == []
    assert {"BookingSucceeded", "StaffAssigned", "ToolLatency", "CalcomLatency"} <= emitted_metric_names()


def test_every_catalogued_metric_is_emitted_once_listed():
    names = catalogued_metric_names()
    assert len(names) == len(set(names)), "a metric is listed twice"
    assert [name for name in names if not is_emitted(name)] == []


def test_every_metric_the_code_emits_is_catalogued():
    names = set(catalogued_metric_names())
    assert sorted(emitted_metric_names() - names) == []
    # A name built at run time (f"TeamSyncRun{status}") is listed under every name it takes.
    assert [p for p in emitted_metric_patterns() if not any(re.fullmatch(p, name) for name in names)] == []


def test_names_built_from_reports_are_all_catalogued():
    """The run-time names, from what builds them: team sync and reconciliation statuses, the team
    sync report's counters, the booking request statuses a settlement takes."""
    from calbridge.domain.booking_requests import SETTLED
    from calbridge.domain.reconciliation import ReconciliationReport
    from calbridge.domain.sync import SyncReport
    from calbridge.services.team_sync_jobs import REPORT_COUNTERS, _pascal

    names = set(catalogued_metric_names())
    statuses = {
        report: report.model_fields["status"].annotation.__args__
        for report in (SyncReport, ReconciliationReport)
    }
    built = {f"TeamSyncRun{_pascal(s)}" for s in statuses[SyncReport]}
    built |= {f"ReconciliationRun{s.capitalize()}" for s in statuses[ReconciliationReport]}
    built |= {f"TeamSync{_pascal(counter)}" for counter in REPORT_COUNTERS}
    built |= {f"BookingRequest{status.value.capitalize()}" for status in SETTLED}
    for prefix in ("TeamSync", "Reconciliation"):
        built |= {
            f"{prefix}{what}"
            for what in (
                *("JobsEnqueued", "CompaniesSkipped", "JobsNotEnqueued", "JobsRejected"),
                *("AttemptsFailed", "JobsExhausted"),
            )
        }
    assert sorted(built - names) == []
    # and nothing else under those prefixes but the literal names the code has
    patterned = {n for n in names if n not in emitted_metric_names()}
    assert sorted(patterned - built) == []
