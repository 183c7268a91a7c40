"""Reconciliation's run log: one item per run of one company (ReconciliationRunsTable).

Key (company_id, `<started_at ISO>#<run_id>`), newest first with one query, kept until TTL
(the team sync's run log pattern, adapters/store/sync_runs.py). A report's lists are capped so
that an item stays far below DynamoDB's 400 KB; the stored report then says how many it left out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from calbridge.adapters.store.models import _Meta, _settings
from calbridge.domain.reconciliation import ReconciliationReport
from calbridge.errors import StoreUnavailable

MAX_LISTED_STORED = 200
_LISTS = ("orphans", "in_flight", "diverged", "errors")
_UNAVAILABLE = "the reconciliation run store is unavailable"


class ReconciliationRunRecord(Model):
    class Meta(_Meta):
        table_name = _settings.reconciliation_runs_table or "ReconciliationRuns"

    company_id = UnicodeAttribute(hash_key=True)
    run_key = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute()
    status = UnicodeAttribute()
    trigger = UnicodeAttribute()
    started_at = UTCDateTimeAttribute()
    report = JSONAttribute()
    expires_at = NumberAttribute()  # epoch seconds: DynamoDB's TTL attribute


def _stored_report(report: ReconciliationReport) -> dict[str, Any]:
    data = report.model_dump(mode="json")
    for key in _LISTS:
        if len(data[key]) > MAX_LISTED_STORED:
            data[f"{key}_left_out"] = len(data[key]) - MAX_LISTED_STORED
            data[key] = data[key][:MAX_LISTED_STORED]
    return data


class ReconciliationRunRepository:
    def __init__(self, retention_days: int) -> None:
        self.retention = timedelta(days=retention_days)

    def save(self, report: ReconciliationReport) -> None:
        record = ReconciliationRunRecord(
            report.company_id,
            f"{report.started_at.astimezone(UTC).isoformat()}#{report.run_id}",
            run_id=report.run_id,
            status=report.status,
            trigger=report.trigger,
            started_at=report.started_at,
            report=_stored_report(report),
            expires_at=int((datetime.now(UTC) + self.retention).timestamp()),
        )
        try:
            record.save()
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def recent(self, company_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The company's latest reports as stored, newest first."""
        try:
            records = ReconciliationRunRecord.query(company_id, scan_index_forward=False, limit=limit)
            return [r.report for r in records]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
