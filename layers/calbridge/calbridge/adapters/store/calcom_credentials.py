"""Which Cal.com key a company's calls use ("platform" or "own"), written on its company item
alone (docs/adr/0030-calcom-credential-per-company.md): no other attribute is read or rewritten,
and a company deleted meanwhile is not brought back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from calbridge.adapters.store.models import CompanyRecord, conditional_write
from calbridge.errors import UnknownCompany

CalcomCredential = Literal["platform", "own"]


def set_calcom_credential(company_id: str, credential: CalcomCredential) -> None:
    """One conditional UpdateItem; UnknownCompany when there is no such company."""
    record = CompanyRecord(company_id)
    actions = [
        CompanyRecord.calcom_credential.set(credential),
        CompanyRecord.updated_at.set(datetime.now(UTC)),
    ]
    written = conditional_write(
        lambda: record.update(actions=actions, condition=CompanyRecord.company_id.exists()),
        unavailable="the company store is unavailable",
    )
    if not written:
        raise UnknownCompany(f"unknown company {company_id!r}")
