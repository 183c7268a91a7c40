"""The TTL (`expires_at`) of a company's records from its retention settings (ADR 0028).

The writers of appointments, their Cal.com change items and booking requests stamp it. The
company comes from the repository given (the wiring passes its cached one: no read on a warm
container); without one, a repository with the directory cache is built on first use.
"""

from __future__ import annotations

from datetime import datetime

from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.config import get_settings
from calbridge.domain.retention import expires_at


class RetentionPolicy:
    def __init__(self, companies: CompanyRepository | None = None) -> None:
        self._companies = companies

    def _company_days(self, company_id: str, kind: str) -> int:
        if self._companies is None:  # built on first use: readers of these tables never need it
            self._companies = CompanyRepository(get_settings().directory_cache_s)
        return int(getattr(self._companies.get(company_id), kind))

    def appointment_expires_at(self, company_id: str, end: datetime) -> int:
        """An appointment's items go `appointment_retention_days` after its end."""
        return expires_at(end, self._company_days(company_id, "appointment_retention_days"))

    def call_expires_at(self, company_id: str, at: datetime) -> int:
        """What a call left (its record, a booking request it made) goes `call_retention_days` after it."""
        return expires_at(at, self._company_days(company_id, "call_retention_days"))
