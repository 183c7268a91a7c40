"""One caller's data in one company: export it, or erase it (docs/adr/0028-retention-and-erasure.md).

The caller is named by phone (E.164) or e-mail in the request body, never in a URL (access logs
keep URLs). An erasure is recorded in the company's admin audit trail with the admin, the kind
of identifier and the counts, never the identifier itself (even hashed: a phone number's hash is
found again by trying every number). What Cal.com and Retell keep is removed there (docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from calbridge.adapters.parsing import parse_json, parse_model
from calbridge.adapters.store.audits import AdminAuditLog
from calbridge.adapters.store.caller_data import CallerDataStore
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.domain.retention import CallerRef
from calbridge.observability import logger

ERASURE_SUBJECT = "erasure"


class CallerPrivacy:
    def __init__(
        self,
        companies: CompanyRepository,
        store: CallerDataStore,
        audits: AdminAuditLog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._companies = companies
        self._store = store
        self._audits = audits
        self._clock = clock

    def export(self, company_id: str, raw: bytes) -> dict[str, Any]:
        """Every item of the company naming the caller, grouped by kind (InvalidRequest: bad body,
        UnknownCompany: no such company; nothing is read before both are checked)."""
        caller = self._caller(company_id, raw)
        items = self._store.find(company_id, caller).export()
        logger.info(
            "caller data exported",
            company_id=company_id,
            identified_by=caller.kind,
            counts={kind: len(found) for kind, found in items.items()},
        )
        return {"company_id": company_id, "identified_by": caller.kind, **items}

    def erase(self, company_id: str, raw: bytes, actor: str) -> dict[str, Any]:
        """Delete (or scrub, where Cal.com still holds the appointment) every item of the company
        naming the caller; the counts per kind, also in the audit entry. Running it again finds
        nothing more and answers with zero counts."""
        caller = self._caller(company_id, raw)
        found = self._store.find(company_id, caller)
        counts = self._store.erase(found, now=self._clock())
        audit = self._audits.record(
            company_id,
            ERASURE_SUBJECT,
            "erase",
            actor,
            reason=f"a caller's data erased on request, identified by {caller.kind}",
            new_values={"identified_by": caller.kind, **counts},
        )
        logger.info("caller data erased", company_id=company_id, identified_by=caller.kind, counts=counts)
        answer = {"company_id": company_id, "identified_by": caller.kind, "counts": counts}
        return answer | {"audit": audit.view()}

    def _caller(self, company_id: str, raw: bytes) -> CallerRef:
        caller = parse_model(CallerRef, parse_json(raw))
        self._companies.get(company_id)  # UnknownCompany: 404
        return caller
