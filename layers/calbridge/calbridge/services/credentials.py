"""A company's Cal.com credential (docs/adr/0030-calcom-credential-per-company.md): its own API key
in Secrets Manager (`<CALCOM_COMPANY_KEY_PREFIX><company_id>`), or the platform key by default.

The admin API sets, rotates and removes it. A new key is tried against Cal.com first (one
membership of the company's team): a key Cal.com refuses, or one that cannot see the team, is
never stored. The key is never returned, logged or audited; logs name it by 8 hex of its SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from calbridge.adapters.parsing import parse_json, parse_model
from calbridge.adapters.store.audits import AdminAuditLog
from calbridge.adapters.store.calcom_credentials import CalcomCredential, set_calcom_credential
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.errors import CalbridgeError, CalcomRejected
from calbridge.observability import logger

if TYPE_CHECKING:
    from calbridge.adapters.calcom import CalcomClient

SUBJECT = "calcom-credential"
# Cal.com's keys: `cal_` (test mode) or `cal_live_` (live) and an opaque tail (docs/reference/calcom.md
# §1.1, "api key prefixed with cal_"); anything else is a paste error, refused before Cal.com sees it.
KEY_PATTERN = r"^cal_[A-Za-z0-9_]{8,200}$"


class CalcomKeyRefused(CalbridgeError):
    """Cal.com refused the key (401), or the key cannot see the company's team (403/404)."""


class SetCalcomKey(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    api_key: str = Field(pattern=KEY_PATTERN, description="the company's Cal.com API key")
    reason: str = Field(default="", max_length=500)


class RemoveCalcomKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


def key_fingerprint(api_key: str) -> str:
    """What logs may say of a key: 8 hex of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:8]


class CalcomCredentials:
    """Set, rotate, show and remove a company's own Cal.com key."""

    def __init__(
        self,
        companies: CompanyRepository,
        calcom: Callable[[], CalcomClient],
        audits: AdminAuditLog,
        *,
        secret_name: Callable[[str], str],
        write_secret: Callable[[str, str], object],
        delete_secret: Callable[[str], None],
        forget_company: Callable[[str], None],
    ) -> None:
        self._companies = companies
        self._calcom = calcom
        self._audits = audits
        self._secret_name = secret_name
        self._write_secret = write_secret
        self._delete_secret = delete_secret
        self._forget_company = forget_company  # this container's cached views of the company

    def view(self, company_id: str) -> dict[str, Any]:
        return _answer(company_id, self._companies.get(company_id).calcom_credential)

    def set_key(self, company_id: str, raw: bytes, actor: str) -> dict[str, Any]:
        """Verify the key against the company's team (when it has one), store it as the company's
        secret, then switch the company to it: its calls use it from their next request in this
        container, elsewhere within the directory and secret caches' TTLs."""
        request = parse_model(SetCalcomKey, parse_json(raw))
        company = self._companies.get(company_id)
        verified = company.calcom_team_id is not None
        if company.calcom_team_id is not None:
            self._verify(company_id, company.calcom_team_id, request.api_key)
        self._write_secret(self._secret_name(company_id), request.api_key)
        before: CalcomCredential = company.calcom_credential
        if before != "own":
            set_calcom_credential(company_id, "own")
        self._forget_company(company_id)
        action = "rotated" if before == "own" else "set"
        self._audits.record(
            company_id,
            SUBJECT,
            action,
            actor,
            reason=request.reason or f"Cal.com key {action}",
            old_values={"calcom_credential": before},
            new_values={"calcom_credential": "own", "verified": verified},
        )
        logger.info(
            "company Cal.com key stored",
            company_id=company_id,
            action=action,
            key=key_fingerprint(request.api_key),
            verified=verified,
        )
        return {**_answer(company_id, "own"), "action": action, "verified": verified}

    def remove_key(self, company_id: str, raw: bytes, actor: str) -> dict[str, Any]:
        """Back to the platform key: the company first (no call looks for the secret any more),
        then the secret is deleted."""
        reason = parse_model(RemoveCalcomKey, parse_json(raw)).reason if raw.strip() else ""
        before = self._companies.get(company_id).calcom_credential
        if before == "own":
            set_calcom_credential(company_id, "platform")
        self._forget_company(company_id)
        self._delete_secret(self._secret_name(company_id))
        if before == "own":
            self._audits.record(
                company_id,
                SUBJECT,
                "removed",
                actor,
                reason=reason or "back to the platform key",
                old_values={"calcom_credential": "own"},
                new_values={"calcom_credential": "platform"},
            )
            logger.info("company Cal.com key removed: back to the platform key", company_id=company_id)
        return {**_answer(company_id, "platform"), "action": "removed" if before == "own" else "unchanged"}

    def _verify(self, company_id: str, team_id: int, api_key: str) -> None:
        calcom = self._calcom().with_api_key(lambda: api_key)
        try:
            calcom.check_team_access(team_id)
        except CalcomRejected as exc:
            logger.info(
                "company Cal.com key refused",
                company_id=company_id,
                status=exc.status_code,
                key=key_fingerprint(api_key),
            )
            if exc.status_code == 401:
                raise CalcomKeyRefused("Cal.com refused this key") from None
            if exc.status_code in (403, 404):
                raise CalcomKeyRefused(
                    f"this key cannot see the company's Cal.com team {team_id}; use a key of a team admin"
                ) from None
            raise


def _answer(company_id: str, credential: CalcomCredential) -> dict[str, Any]:
    # The key itself is never part of an answer: only whose key the calls use.
    return {"company_id": company_id, "calcom_credential": credential}
