"""Companies over the admin API (docs/adr/0032-companies-over-the-admin-api.md): create, replace or
change a company with its branches, phone numbers and Retell agents; deactivate and reactivate it.

Every write goes through `CompanyRepository.save`: the company, its phone routes and its agent
routes in one DynamoDB transaction, so a number or agent another company holds refuses the whole
write and nothing is half-routed. Every change is audited (AdminAuditLog, subject "company") with
the admin's identity and the fields it changed. Setting or changing the Cal.com team id queues the
company's team sync, which links its staff and provisions its booking event types; the answer says
whether it was queued.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from calbridge.adapters.parsing import parse_json
from calbridge.adapters.store.audits import AdminAuditLog
from calbridge.adapters.store.repositories import CompanyRepository
from calbridge.domain.models import Company
from calbridge.errors import InvalidRequest, QueueUnavailable, UnknownBranch, UnknownCompany
from calbridge.observability import logger, metrics
from calbridge.services.admin import validate_company

if TYPE_CHECKING:
    from calbridge.services.team_sync_jobs import TeamSyncFanOut

AUDIT_SUBJECT = "company"
# Fields only their own routes change, never a body: a PUT that omits them must neither switch a
# paused company back on nor drop its own Cal.com key, so it keeps them as stored.
SET_BY_OWN_ROUTE = {
    "active": "POST .../deactivate or .../activate to switch a company off or on",
    "calcom_credential": "PUT or DELETE .../calcom-credential to set or remove the company's key",
}


def _company_view(company: Company) -> dict[str, Any]:
    return company.model_dump(mode="json")


def _body(raw: bytes) -> dict[str, Any]:
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidRequest("the body is a JSON object", field="body")
    return data


def _refuse_fixed_fields(data: dict[str, Any], company_id: str) -> None:
    if "company_id" in data and data["company_id"] != company_id:
        raise InvalidRequest("company_id: the URL names the company; leave it out of the body", "company_id")
    for name, route in SET_BY_OWN_ROUTE.items():
        if name in data:
            raise InvalidRequest(f"{name}: use {route}", name)


def _valid_country(company: Company) -> Company:
    """A country libphonenumber knows: a caller's national number is read in it."""
    if company.country is None:
        return company
    import phonenumbers  # here: only a company write pays its import

    if company.country not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidRequest(f"country: {company.country!r} is not an ISO 3166 country code", "country")
    return company


def _changes(before: Company | None, after: Company) -> dict[str, dict[str, Any]]:
    old = before.model_dump(mode="json") if before else {}
    new = after.model_dump(mode="json")
    return {
        name: {"old": old.get(name), "new": value} for name, value in new.items() if old.get(name) != value
    }


class CompanyAdmin:
    def __init__(
        self,
        companies: CompanyRepository,
        audits: AdminAuditLog,
        team_sync: Callable[[], TeamSyncFanOut],
        *,
        forget: Callable[[str], None] = lambda company_id: None,
    ) -> None:
        self._companies = companies  # uncached: every read is what is stored
        self._audits = audits
        self._team_sync = team_sync
        self._forget = forget  # drops this container's cached views of the company

    # -------------------------------------------------------------- reads

    def get(self, company_id: str) -> dict[str, Any]:
        return {"company": _company_view(self._companies.get(company_id))}

    def _visible(self, only: str | None) -> list[Company]:
        """Every company by id, or only the one a console user belongs to (`only`)."""
        if only is None:
            return sorted(self._companies.all(), key=lambda c: c.company_id)
        return [self._companies.get(only)]

    def list(self, only: str | None = None) -> dict[str, Any]:
        return {
            "companies": [
                {
                    "company_id": c.company_id,
                    "name": c.name,
                    "active": c.active,
                    "calcom_team_id": c.calcom_team_id,
                    "branches": len(c.branches),
                }
                for c in self._visible(only)
            ]
        }

    def summaries(self, only: str | None = None) -> list[dict[str, Any]]:
        """What the console shows of each company a user may open, with its local date today."""
        now = datetime.now(UTC)
        return [
            {
                "company_id": c.company_id,
                "name": c.name,
                "timezone": c.timezone,
                "language": c.language,
                "active": c.active,
                "today": now.astimezone(c.zone).date().isoformat(),
            }
            for c in self._visible(only)
        ]

    def audit_trail(self, company_id: str, subject: str) -> dict[str, Any]:
        self._companies.get(company_id)
        return {"audit": [entry.view() for entry in self._audits.entries(company_id, subject)]}

    # -------------------------------------------------------------- writes

    def put(self, company_id: str, raw: bytes, actor: str) -> tuple[dict[str, Any], bool]:
        """Create the company, or replace every field of an existing one (settings left out take
        their defaults; SET_BY_OWN_ROUTE's are kept). True when it was created."""
        data = _body(raw)
        _refuse_fixed_fields(data, company_id)
        before = self._existing(company_id)
        kept = {name: getattr(before, name) for name in SET_BY_OWN_ROUTE} if before else {}
        company = _valid_country(validate_company({**data, **kept, "company_id": company_id}))
        return self._write(
            before, company, actor, "created" if before is None else "replaced"
        ), before is None

    def patch(self, company_id: str, raw: bytes, actor: str) -> dict[str, Any]:
        """Change the fields the body names; `branches`, when given, is the whole new list."""
        data = _body(raw)
        if not data:
            raise InvalidRequest("no field given", field="body")
        _refuse_fixed_fields(data, company_id)
        before = self._companies.get(company_id)
        company = _valid_country(validate_company({**before.model_dump(mode="json"), **data}))
        return self._write(before, company, actor, "changed")

    def put_branch(
        self, company_id: str, branch_id: str, raw: bytes, actor: str
    ) -> tuple[dict[str, Any], bool]:
        """Create or replace one branch (name, phone numbers); the others are left as they are."""
        data = _body(raw)
        if "branch_id" in data and data["branch_id"] != branch_id:
            raise InvalidRequest("branch_id: the URL names the branch; leave it out of the body", "branch_id")
        before = self._companies.get(company_id)
        branch = {**data, "branch_id": branch_id}
        branches = [b.model_dump(mode="json") for b in before.branches]
        created = before.branch(branch_id) is None
        branches = (
            [*branches, branch]
            if created
            else [branch if b["branch_id"] == branch_id else b for b in branches]
        )
        company = validate_company({**before.model_dump(mode="json"), "branches": branches})
        return self._write(before, company, actor, "branch saved"), created

    def delete_branch(self, company_id: str, branch_id: str, actor: str) -> dict[str, Any]:
        """Remove a branch and release its numbers; a company keeps at least one branch."""
        before = self._companies.get(company_id)
        if before.branch(branch_id) is None:
            raise UnknownBranch(f"company {company_id!r} has no branch {branch_id!r}")
        if len(before.branches) == 1:
            raise InvalidRequest("a company keeps at least one branch; add another one first", "branch_id")
        branches = [b.model_dump(mode="json") for b in before.branches if b.branch_id != branch_id]
        company = validate_company({**before.model_dump(mode="json"), "branches": branches})
        return self._write(before, company, actor, "branch removed")

    def set_active(self, company_id: str, active: bool, actor: str, reason: str) -> dict[str, Any]:
        """Switch the company off (its calls get the "no salon" answer) or on again; nothing is
        deleted either way."""
        before = self._companies.get(company_id)
        if before.active == active:
            return {"company": _company_view(before), "changed": []}
        company = before.model_copy(update={"active": active})
        return self._write(before, company, actor, "activated" if active else "deactivated", reason=reason)

    # -------------------------------------------------------------- the one write path

    def _existing(self, company_id: str) -> Company | None:
        try:
            return self._companies.get(company_id)
        except UnknownCompany:
            return None

    def _write(
        self, before: Company | None, company: Company, actor: str, action: str, *, reason: str = ""
    ) -> dict[str, Any]:
        changes = _changes(before, company)
        answer: dict[str, Any] = {"company": _company_view(company), "changed": sorted(changes)}
        if not changes:
            return answer
        try:
            self._companies.save(company)  # PhoneNumberTaken / MappingConflict: nothing written
        finally:
            self._forget(company.company_id)
        self._audits.record(
            company.company_id,
            AUDIT_SUBJECT,
            action,
            actor,
            reason=reason,
            old_values={name: change["old"] for name, change in changes.items()},
            new_values={name: change["new"] for name, change in changes.items()},
        )
        metrics.add_metric(name="CompanyChanged", unit=MetricUnit.Count, value=1)
        logger.info(
            "company changed by an admin",
            company_id=company.company_id,
            action=action,
            actor=actor,
            fields=sorted(changes),
        )
        if "calcom_team_id" in changes and company.calcom_team_id is not None:
            answer["team_sync"] = self._queue_team_sync(company.company_id, actor)
        return answer

    def _queue_team_sync(self, company_id: str, actor: str) -> dict[str, Any]:
        """A new Cal.com team: its members are linked and its booking event types provisioned by
        the company's team sync, queued now rather than at night."""
        try:
            message_id = self._team_sync().enqueue_one(company_id, requested_by=actor)
        except QueueUnavailable:
            logger.exception("team sync of a new Cal.com team not queued", company_id=company_id)
            return {
                "status": "not_queued",
                "detail": "the sync queue is unavailable: POST .../sync to queue it, or wait for the night",
            }
        return {"status": "queued", "message_id": message_id}
