"""The admin audit trail of a company: who changed the company, its Cal.com credential, or erased a
caller's data, and when.

Kept in MappingAuditsTable beside the host mappings' audits (same key shape,
`<subject>#<changed_at iso>#<audit_id>`): the subjects here ("company", "calcom-credential",
"erasure") can never equal a mapping key ("host#…", "rule#…"). An entry names the admin (their
IAM principal) and what changed, never a caller's personal data or a secret: callers pass only
setting names and values that are neither.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pynamodb.exceptions import PynamoDBException

from calbridge.adapters.store.models import MappingAuditRecord, conditional_write
from calbridge.errors import StoreUnavailable

_UNAVAILABLE = "the audit store is unavailable"
AUDIT_SUBJECTS = ("company", "calcom-credential", "erasure")


class AdminAudit(BaseModel):
    model_config = ConfigDict(frozen=True)

    company_id: str
    subject: str  # company | calcom-credential | erasure
    audit_id: str
    action: str
    old_values: dict[str, Any] | None = None
    new_values: dict[str, Any] | None = None
    changed_by: str
    changed_at: datetime
    reason: str

    def view(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"company_id"})


class AdminAuditLog:
    def record(
        self,
        company_id: str,
        subject: str,
        action: str,
        actor: str,
        *,
        reason: str = "",
        old_values: dict[str, Any] | None = None,
        new_values: dict[str, Any] | None = None,
    ) -> AdminAudit:
        audit = AdminAudit(
            company_id=company_id,
            subject=subject,
            audit_id=uuid.uuid4().hex,
            action=action,
            old_values=old_values,
            new_values=new_values,
            changed_by=actor,
            changed_at=datetime.now(UTC),
            reason=reason or action,
        )
        record = MappingAuditRecord(
            company_id,
            f"{subject}#{audit.changed_at.isoformat()}#{audit.audit_id}",
            mapping_key=subject,
            audit_id=audit.audit_id,
            action=action,
            old_values=old_values,
            new_values=new_values,
            changed_by=actor,
            changed_at=audit.changed_at,
            reason=audit.reason,
        )
        conditional_write(
            lambda: record.save(condition=MappingAuditRecord.audit_key.does_not_exist()),
            unavailable=_UNAVAILABLE,
        )
        return audit

    def entries(self, company_id: str, subject: str, *, limit: int = 100) -> list[AdminAudit]:
        """The subject's entries, newest first."""
        try:
            records = MappingAuditRecord.query(
                company_id,
                MappingAuditRecord.audit_key.startswith(f"{subject}#"),
                scan_index_forward=False,
                limit=limit,
            )
            return [
                AdminAudit(
                    company_id=company_id,
                    subject=subject,
                    audit_id=r.audit_id,
                    action=r.action,
                    old_values=r.old_values.as_dict() if r.old_values is not None else None,
                    new_values=r.new_values.as_dict() if r.new_values is not None else None,
                    changed_by=r.changed_by,
                    changed_at=r.changed_at,
                    reason=r.reason,
                )
                for r in records
            ]
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
