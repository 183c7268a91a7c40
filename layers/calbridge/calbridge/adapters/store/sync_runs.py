"""The team sync's run log: one item per run of one company's sync (SyncRunsTable).

Key (company_id, `<started_at ISO>#<run_id>`), so a company's runs read newest first with one
query. Items expire by TTL after the configured retention. A report's `skipped` and `errors`
lists are capped so that a huge team can never exceed DynamoDB's 400 KB item limit; the stored
report then says how many it left out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import PynamoDBException

from calbridge.adapters.store.models import SyncRunRecord
from calbridge.domain.sync import SyncReport
from calbridge.domain.sync_jobs import SyncRun
from calbridge.errors import StoreUnavailable

MAX_SKIPPED_STORED = 500
MAX_ERRORS_STORED = 100
_UNAVAILABLE = "the sync run store is unavailable"


def _stored_report(report: SyncReport) -> dict[str, Any]:
    data = report.model_dump(mode="json")
    for key, limit in (("skipped", MAX_SKIPPED_STORED), ("errors", MAX_ERRORS_STORED)):
        if len(data[key]) > limit:
            data[f"{key}_left_out"] = len(data[key]) - limit
            data[key] = data[key][:limit]
    return data


def run_key(report: SyncReport, run_id: str) -> str:
    return f"{report.started_at.astimezone(UTC).isoformat()}#{run_id}"


class SyncRunRepository:
    def __init__(self, retention_days: int) -> None:
        self.retention = timedelta(days=retention_days)

    def save(self, run: SyncRun) -> None:
        report = run.report
        record = SyncRunRecord(
            report.company_id,
            run_key(report, run.run_id),
            run_id=run.run_id,
            status=report.status,
            trigger=run.trigger,
            job_id=run.job_id,
            started_at=report.started_at,
            finished_at=report.finished_at,
            report=_stored_report(report),
            expires_at=int((datetime.now(UTC) + self.retention).timestamp()),
        )
        try:
            record.save()
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def recent(self, company_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The company's latest runs, newest first: run id, trigger, job id and the stored report."""
        try:
            records = list(SyncRunRecord.query(company_id, scan_index_forward=False, limit=limit))
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return [
            {"run_id": r.run_id, "trigger": r.trigger, "job_id": r.job_id, "report": r.report}
            for r in records
        ]
