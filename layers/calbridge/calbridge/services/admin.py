"""Admin use cases: staff import, manual host mappings and rules, the review queue, the audit trail,
the service catalog (saving a service provisions its segment event types) and the company's
settings.

Everything is scoped to a company that must exist (UnknownCompany otherwise). Writes go through
the host resolver (mappings, rules, deactivations: each with its audit record in one transaction)
or the staff repository (imports), and drop this container's cached view of the company afterwards.

A staff import is validated completely before anything is written: every row, from JSON or CSV,
becomes a `StaffMember` of the company named by the URL (never by the body); one bad row or a
duplicate staff id refuses the whole import and the error names every problem found.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from calbridge.adapters.parsing import parse_json
from calbridge.adapters.store.event_map import EventMapRepository
from calbridge.adapters.store.host_mappings import HostMappingRepository, HostReviewRepository
from calbridge.adapters.store.repositories import (
    COMPANY_SETTINGS,
    CompanyRepository,
    ServiceRepository,
    StaffRepository,
)
from calbridge.domain.event_types import EventMapEntry
from calbridge.domain.hosts import HostRef
from calbridge.domain.mappings import HostMapping, HostReview, ManualRuleRecord, MappingAudit
from calbridge.domain.models import Company, EntityId, Service, StaffMember
from calbridge.errors import CalbridgeError, InvalidConfiguration, InvalidRequest, NotFound
from calbridge.observability import logger

if TYPE_CHECKING:  # the provisioner's Cal.com client (httpx) stays out of the admin API's cold start
    from calbridge.services.event_types import EventTypeProvisioner
    from calbridge.services.host_resolution import HostResolver

MAX_IMPORT_ROWS = 1000
MAX_REPORTED_PROBLEMS = 50
CSV_COLUMNS = ("staff_id", "name", "email", "other_emails", "calcom_user_id", "calcom_username", "active")
_REQUIRED_COLUMNS = ("staff_id", "name")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^\S{1,100}$")


# ------------------------------------------------------------------ errors


class UnknownStaff(NotFound):
    """The staff member named in a mapping does not exist in the company."""


class NoActiveMapping(NotFound):
    """A deactivation names a host that has no active mapping."""


class TooManyRows(CalbridgeError):
    """A staff import over MAX_IMPORT_ROWS rows."""


class UnsupportedMediaType(CalbridgeError):
    """A staff import that is neither JSON nor CSV."""


class InvalidImport(InvalidRequest):
    """A staff import with bad rows: `field`/`message` name the first, `problems` lists them all."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        field, message = problems[0]
        more = len(problems) - 1
        super().__init__(message + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""), field)
        self.problems = [{"field": f, "message": m} for f, m in problems[:MAX_REPORTED_PROBLEMS]]


# ------------------------------------------------------------------ request models


def _invalid(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message pydantic shows as is (no "Value error, " prefix)."""
    return PydanticCustomError(kind, message)


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise _invalid("email", f"not an e-mail address: {value!r}")
    return value


def _username(value: str) -> str:
    value = value.strip()
    if not _USERNAME.match(value):
        raise _invalid("username", "a Cal.com username is 1 to 100 characters without spaces")
    return value


def _host_id(value: Any) -> int:
    """A Cal.com host id: a positive integer (a string of digits is accepted, booleans are not)."""
    if isinstance(value, bool):
        raise _invalid("host_id", "the Cal.com host id is a number, not true/false")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "unknown":
            raise _invalid(
                "host_id",
                "Cal.com sent no id for this host ('unknown'), so it cannot be mapped by id: "
                "map its email or username instead",
            )
        if not (text.isascii() and text.isdigit()):
            raise _invalid("host_id", f"the Cal.com host id is a number, got {value!r}")
        value = int(text)
    if not isinstance(value, int) or value <= 0:
        raise _invalid("host_id", f"the Cal.com host id is a positive whole number, got {value!r}")
    return value


def parse_host_id(value: str | None) -> int:
    """The `{host_id}` of a URL path."""
    try:
        return _host_id(value or "")
    except PydanticCustomError as exc:
        raise InvalidRequest(f"host_id: {exc.message()}", field="host_id") from exc


Email = Annotated[str, AfterValidator(_email)]
Username = Annotated[str, AfterValidator(_username)]
HostId = Annotated[int, BeforeValidator(_host_id)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class StaffRow(BaseModel):
    """One staff member as an import gives it; the company comes from the URL."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)

    staff_id: EntityId
    name: str = Field(min_length=1, max_length=200)
    email: Email | None = None
    other_emails: list[Email] = Field(default_factory=list, max_length=20)
    calcom_user_id: int | None = Field(default=None, gt=0)
    calcom_username: Username | None = None
    active: bool = True
    company_id: str | None = None  # tolerated when it names the URL's company (a re-imported export)


class CreateMappingRequest(BaseModel):
    """POST host-mappings: exactly one of host_id (a mapping) or email/username (a rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    host_id: HostId | None = None
    email: Email | None = None
    username: Username | None = None
    staff_id: str = Field(min_length=1, max_length=64)
    reason: Reason

    def target(self) -> tuple[Literal["host_id", "email", "username"], Any]:
        given = [
            (k, v)
            for k, v in (("host_id", self.host_id), ("email", self.email), ("username", self.username))
            if v is not None
        ]
        if len(given) != 1:
            names = ", ".join(k for k, _ in given) or "none"
            raise InvalidRequest(
                f"give exactly one of host_id, email or username (got {names})",
                field=given[0][0] if given else "host_id",
            )
        return given[0]  # type: ignore[return-value]


class DeactivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    reason: Reason


# ------------------------------------------------------------------ import parsing


@dataclass(frozen=True)
class _Row:
    """One row of an import before validation: where it is, and its data or reading problems."""

    field: str  # "staff[2]" (JSON, 0-based index) or "row[3]" (CSV, the file's row; header = row 1)
    label: str  # "staff[2]" or "row 3", how messages name it
    data: Any = None
    problems: tuple[tuple[str, str], ...] = ()


def _pydantic_message(error: Mapping[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate_rows(company_id: str, rows: list[_Row]) -> list[StaffMember]:
    """Every row as a staff member of `company_id`, or InvalidImport naming every problem found."""
    members: list[StaffMember] = []
    problems: list[tuple[str, str]] = []
    first_seen: dict[str, str] = {}
    for row in rows:
        if row.problems:
            problems.extend(row.problems)
            continue
        if not isinstance(row.data, dict):
            problems.append((row.field, f"{row.label}: a staff member is a JSON object"))
            continue
        try:
            parsed = StaffRow.model_validate(row.data)
        except ValidationError as exc:
            for error in exc.errors():
                path = _path(error["loc"])
                problems.append((f"{row.field}.{path}", f"{row.label}: {path}: {_pydantic_message(error)}"))
            continue
        if parsed.company_id is not None and parsed.company_id != company_id:
            problems.append(
                (
                    f"{row.field}.company_id",
                    f"{row.label}: company_id: the company comes from the URL ({company_id!r}); "
                    f"remove {parsed.company_id!r} from the row",
                )
            )
            continue
        if parsed.staff_id in first_seen:
            problems.append(
                (
                    f"{row.field}.staff_id",
                    f"{row.label}: staff_id: {parsed.staff_id!r} appears twice "
                    f"(also in {first_seen[parsed.staff_id]})",
                )
            )
            continue
        first_seen[parsed.staff_id] = row.label
        members.append(StaffMember(company_id=company_id, **parsed.model_dump(exclude={"company_id"})))
    if problems:
        raise InvalidImport(problems)
    return members


def _check_row_count(count: int) -> None:
    if count > MAX_IMPORT_ROWS:
        raise TooManyRows(f"an import holds at most {MAX_IMPORT_ROWS} staff members: split it")


def _json_rows(raw: bytes) -> list[_Row]:
    data = parse_json(raw)
    if not isinstance(data, dict) or not isinstance(data.get("staff"), list):
        raise InvalidRequest('the body is {"staff": [{...}, ...]}', field="staff")
    extra = sorted(set(data) - {"staff"})
    if extra:
        raise InvalidRequest(f'{extra[0]}: unknown field; the body is {{"staff": [...]}}', field=extra[0])
    _check_row_count(len(data["staff"]))
    return [_Row(f"staff[{i}]", f"staff[{i}]", row) for i, row in enumerate(data["staff"])]


def _csv_cell(column: str, text: str) -> Any:
    if column == "other_emails":
        return [part.strip() for part in text.split(";") if part.strip()]
    if column == "calcom_user_id":
        if not (text.isascii() and text.isdigit()):
            raise ValueError(f"not a whole number: {text!r}")
        return int(text)
    if column == "active":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"use true/false, 1/0 or yes/no, not {text!r}")
    return text


def _csv_header(reader: Any) -> list[str]:
    header = [column.strip().lower() for column in next(reader)]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise InvalidRequest(
            f"row 1: unknown column {unknown[0]!r}; the columns are {','.join(CSV_COLUMNS)}",
            field="header",
        )
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvalidRequest(f"row 1: the column {missing[0]!r} is required", field="header")
    if len(set(header)) != len(header):
        raise InvalidRequest("row 1: a column appears twice", field="header")
    return header


def _csv_row(header: list[str], cells: list[str], line: int) -> _Row:
    field, label = f"row[{line}]", f"row {line}"
    if len(cells) > len(header):
        problem = (field, f"{label}: {len(cells)} cells, but the header has {len(header)} columns")
        return _Row(field, label, problems=(problem,))
    data: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for column, cell in zip(header, cells, strict=False):  # missing trailing cells are empty
        if not cell.strip():
            continue  # empty: the default
        try:
            data[column] = _csv_cell(column, cell.strip())
        except ValueError as exc:
            problems.append((f"{field}.{column}", f"{label}: {column}: {exc}"))
    return _Row(field, label, data, tuple(problems))


def _csv_rows(raw: bytes) -> list[_Row]:
    try:
        text = raw.decode("utf-8-sig")  # a spreadsheet's byte-order mark is dropped
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the CSV is not UTF-8: {exc}", field="body") from exc
    if not text.strip():
        raise InvalidRequest("the request body is empty", field="body")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[_Row] = []
    try:
        header = _csv_header(reader)
        for cells in reader:
            if any(cell.strip() for cell in cells):  # blank lines are skipped
                _check_row_count(len(rows) + 1)
                rows.append(_csv_row(header, cells, reader.line_num))
    except csv.Error as exc:
        line = reader.line_num
        raise InvalidRequest(f"row {line}: not valid CSV: {exc}", field=f"row[{line}]") from exc
    return rows


def staff_import_format(content_type: str | None) -> Literal["json", "csv"]:
    """JSON unless the request says text/csv; any other media type is refused."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media == "application/json":
        return "json"
    if media == "text/csv":
        return "csv"
    raise UnsupportedMediaType(f"send the staff as application/json or text/csv, not {media!r}")


# ------------------------------------------------------------------ services


def _service_problem(error: Mapping[str, Any]) -> tuple[str, str]:
    """(field, message) of a Service validation error; checks of the whole service name their field."""
    message = _pydantic_message(error)
    field = _path(error["loc"])
    if not field:
        lowered = message.lower()
        named = (("max_gap_stretch", "max_gap_stretch"), ("duration", "duration"), ("segment", "segments"))
        field = next((f for word, f in named if word in lowered), "body")
        return field, message
    return field, f"{field}: {message}"


def parse_service(company_id: str, service_id: str, data: Any) -> Service:
    """The body of PUT .../services/{service_id} as a Service; the URL names company and service."""
    if not isinstance(data, dict):
        raise InvalidRequest("the body is a service: a JSON object", field="body")
    for key, value in (("company_id", company_id), ("service_id", service_id)):
        if key in data and data[key] != value:
            raise InvalidRequest(
                f"{key}: the URL names it ({value!r}); remove {data[key]!r} from the body", field=key
            )
    try:
        return Service.model_validate({**data, "company_id": company_id, "service_id": service_id})
    except ValidationError as exc:
        errors = exc.errors()
        field, message = _service_problem(errors[0])
        more = len(errors) - 1
        raise InvalidRequest(
            message + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""), field
        ) from exc


# ------------------------------------------------------------------ company settings

# Shown with the settings, but written only with the whole company (CompanyRepository.save, as the
# seed does), never by PATCH: they come with the branches and the Cal.com team.
READ_ONLY_SETTINGS = ("name", "timezone", "calcom_team_id", "calcom_credential")


def apply_settings(company: Company, data: Any) -> tuple[Company, list[str]]:
    """The body of PATCH .../settings applied to the company, and the settings it changes.

    Only COMPANY_SETTINGS may be given. The result is validated as a whole Company, so every rule
    of the model holds (ranges, languages, opening hours that close after they open), and with
    JSON's strict types: `true`, not "yes" or 1; 50, not "50" or 50.0. Nothing is written here.
    """
    if not isinstance(data, dict):
        raise InvalidRequest("the body is a JSON object of settings", field="body")
    if not data:
        raise InvalidRequest(
            f"no setting given; the settings are {', '.join(COMPANY_SETTINGS)}", field="body"
        )
    for name in data:
        if name not in COMPANY_SETTINGS:
            why = "read-only" if name in Company.model_fields else "unknown setting"
            raise InvalidRequest(f"{name}: {why}; the settings are {', '.join(COMPANY_SETTINGS)}", field=name)
    updated = validate_company({**company.model_dump(mode="json"), **data})
    return updated, [name for name in COMPANY_SETTINGS if getattr(updated, name) != getattr(company, name)]


def validate_company(data: dict[str, Any]) -> Company:
    """`data` (parsed JSON) as a whole Company, with JSON's strict types: `true`, not "yes" or 1;
    50, not "50" or 50.0. The first problem is an InvalidRequest naming its field (and how many
    more there are)."""
    try:
        return Company.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        path = ".".join(str(part) for part in first["loc"])
        more = len(errors) - 1
        raise InvalidRequest(
            f"{path}: {_pydantic_message(first)}"
            + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""),
            field=str(first["loc"][0]) if first["loc"] else "body",
        ) from exc


# ------------------------------------------------------------------ views


def _staff_view(member: StaffMember) -> dict[str, Any]:
    return member.model_dump(mode="json", exclude={"company_id"})


def _service_view(service: Service, entries: list[EventMapEntry]) -> dict[str, Any]:
    view = service.model_dump(mode="json", exclude={"company_id"})
    view["event_types"] = [e.model_dump(mode="json", exclude={"company_id", "service_id"}) for e in entries]
    return view


def _settings_view(company: Company) -> dict[str, Any]:
    return company.model_dump(mode="json", include={*READ_ONLY_SETTINGS, *COMPANY_SETTINGS})


def _audit_view(audit: MappingAudit) -> dict[str, Any]:
    return audit.model_dump(
        mode="json",
        include={"audit_id", "action", "old_values", "new_values", "changed_by", "changed_at", "reason"},
    )


# ------------------------------------------------------------------ the service


class AdminService:
    def __init__(
        self,
        resolver: HostResolver,
        staff: StaffRepository,
        mappings: HostMappingRepository,
        reviews: HostReviewRepository,
        *,
        services: ServiceRepository | None = None,
        event_map: EventMapRepository | None = None,
        provisioner: EventTypeProvisioner | None = None,
        companies: CompanyRepository | None = None,
    ) -> None:
        self._resolver = resolver
        self._staff = staff
        self._mappings = mappings
        self._reviews = reviews
        self._services = services or ServiceRepository()
        self._companies = companies or CompanyRepository()
        self._event_map = event_map or EventMapRepository()
        self._provisioner = provisioner

    # -------------------------------------------------------------- staff

    def list_staff(self, company_id: str) -> dict[str, Any]:
        self._resolver.company(company_id)
        return {"staff": [_staff_view(m) for m in self._staff.list(company_id, active_only=False)]}

    def import_staff(self, company_id: str, raw: bytes, content_type: str | None) -> dict[str, Any]:
        """Validate every row, then upsert them all; a bad row or duplicate id writes nothing."""
        self._resolver.company(company_id)
        kind = staff_import_format(content_type)
        rows = _json_rows(raw) if kind == "json" else _csv_rows(raw)
        if not rows:
            raise InvalidRequest(
                "the import holds no staff members", field="staff" if kind == "json" else "body"
            )
        members = _validate_rows(company_id, rows)

        existing = {m.staff_id: m for m in self._staff.list(company_id, active_only=False)}
        changed = [m for m in members if existing.get(m.staff_id) != m]  # identical rows are not rewritten
        try:
            # Upserts are idempotent: an import cut short (503) is simply sent again.
            self._staff.save_many(changed)
        finally:
            self._resolver.forget(company_id)
        created = sum(1 for m in changed if m.staff_id not in existing)
        result = {
            "imported": len(members),
            "created": created,
            "updated": len(changed) - created,
            "unchanged": len(members) - len(changed),
        }
        logger.info(
            "staff imported",
            company_id=company_id,
            content=kind,
            **{f"staff_{key}": value for key, value in result.items()},  # "created" is a LogRecord field
        )
        return result

    # -------------------------------------------------------------- company settings

    def company_settings(self, company_id: str) -> dict[str, Any]:
        return {"settings": _settings_view(self._companies.get(company_id))}

    def change_settings(self, company_id: str, raw: bytes, actor: str) -> dict[str, Any]:
        """Validate the changed settings against the whole company, then write only those.

        Read fresh (not this container's cached view) so the check runs on what is stored. An
        invalid change writes nothing; an unchanged value is not rewritten. A new minimum notice
        goes onto the company's booking event types at once (their minimumBookingNotice); the
        answer then carries that provisioning's report.
        """
        company = self._companies.get(company_id)
        updated, changed = apply_settings(company, parse_json(raw))
        if "retell_agent_ids" in changed:
            self._refuse_claimed_agents(company, updated)
        before, after = _settings_view(company), _settings_view(updated)
        if changed:
            try:
                self._companies.save_settings(updated, changed)
            finally:
                self._resolver.forget(company_id)
            # No audit table holds company changes (MappingAuditsTable is per host mapping): the
            # log is the record of who changed what.
            logger.info(
                "company settings changed by an admin",
                company_id=company_id,
                actor=actor,
                changes={name: {"old": before[name], "new": after[name]} for name in changed},
            )
        answer: dict[str, Any] = {"settings": after, "changed": changed}
        if "minimum_notice_minutes" in changed:
            answer.update(self._provision_own_changes(updated))
        return answer

    def _refuse_claimed_agents(self, company: Company, updated: Company) -> None:
        """An agent id serves one company: one another company lists is refused, naming the field.
        (The write re-checks each claim in its transaction: a claim made meanwhile is a 409.)"""
        for agent_id in set(updated.retell_agent_ids) - set(company.retell_agent_ids):
            owner = self._companies.company_of_agent(agent_id)
            if owner is not None and owner != company.company_id:
                raise InvalidRequest(
                    f"retell_agent_ids: agent {agent_id!r} already serves another company; "
                    "remove it there first",
                    field="retell_agent_ids",
                )

    def _provision_own_changes(self, company: Company) -> dict[str, Any]:
        """Bring the booking event types in step with what an admin just changed (a new minimum
        notice; a staff member linked, who is bookable once their own event types exist): create
        the missing ones and apply calbridge's own changes. Drift made in Cal.com is left to the
        nightly sync and its sync_repair_drift."""
        if self._provisioner is None:
            return {}
        report = self._provisioner.provision_company(company, repair=False, create_missing=True)
        return {"event_types": {**report.model_dump(mode="json"), "ok": report.ok}}

    # -------------------------------------------------------------- services

    def list_services(self, company_id: str) -> dict[str, Any]:
        """Every service, active and inactive, with its segments' event map entries."""
        self._resolver.company(company_id)
        entries: dict[str, list[EventMapEntry]] = {}
        for entry in self._event_map.list(company_id):
            entries.setdefault(entry.service_id, []).append(entry)
        services = sorted(self._services.list(company_id, active_only=False), key=lambda s: s.service_id)
        return {"services": [_service_view(s, entries.get(s.service_id, [])) for s in services]}

    def save_service(
        self, company_id: str, service_id: str, raw: bytes, actor: str
    ) -> tuple[dict[str, Any], bool]:
        """Validate, save (create or replace), then provision the segment event types.

        Returns the answer and whether the service is new. An invalid service writes nothing. The
        service stays saved whatever Cal.com answers: the report says which segments failed, and
        saving again (or `make provision`) retries them.
        """
        company = self._resolver.company(company_id)
        service = parse_service(company_id, service_id, parse_json(raw))
        known = {m.staff_id for m in self._staff.list(company_id, active_only=False)}
        for index, staff_id in enumerate(service.staff_ids):
            if staff_id not in known:
                raise InvalidRequest(
                    f"staff_ids[{index}]: unknown staff member {staff_id!r} in company {company_id!r}",
                    field=f"staff_ids[{index}]",
                )
        if self._provisioner is None:
            raise InvalidConfiguration("the admin service has no event type provisioner")
        try:
            self._services.get(company_id, service_id)
            created = False
        except NotFound:
            created = True
        self._services.save(service)
        report = self._provisioner.provision_service(company, service)
        logger.info(
            "service saved by an admin",
            company_id=company_id,
            service_id=service_id,
            action="created" if created else "replaced",
            actor=actor,
            provisioning=report.summary(),
        )
        answer = {
            "service": _service_view(service, self._event_map.list(company_id, service_id)),
            "event_types": {**report.model_dump(mode="json"), "ok": report.ok},
        }
        return answer, created

    # -------------------------------------------------------------- mappings and rules

    def list_mappings(self, company_id: str, *, include_inactive: bool = False) -> dict[str, Any]:
        self._resolver.company(company_id)
        names = self._names(company_id)
        mappings = self._mappings.list(company_id, active_only=not include_inactive)
        return {
            "mappings": [self._mapping_view(m, names) for m in sorted(mappings, key=lambda m: m.host_id)],
            "rules": [self._rule_view(r, names) for r in self._mappings.rules(company_id)],
        }

    def _reviewed_host(self, company_id: str, host_id: int) -> HostRef:
        """The host as its open review saw it in Cal.com (name, e-mail, username), so a link made
        from the review queue names who it links; just the id for a host never reviewed."""
        reviewed = next((r.host for r in self._reviews.list(company_id) if r.host.id == host_id), None)
        return reviewed if reviewed is not None else HostRef(id=host_id)

    def create_mapping(self, company_id: str, request: CreateMappingRequest, actor: str) -> dict[str, Any]:
        """A host id -> an override (created, or manual_override of the existing mapping); else a rule."""
        self._resolver.company(company_id)
        match_on, value = request.target()
        self._require_staff(company_id, request.staff_id)
        try:
            if match_on == "host_id":
                mapping = self._resolver.override(
                    company_id,
                    self._reviewed_host(company_id, value),
                    request.staff_id,
                    actor,
                    request.reason,
                )
                action = "created" if mapping.version == 1 else "manual_override"
                logger.info(
                    "host mapping set by an admin",
                    company_id=company_id,
                    host_id=value,
                    staff_id=request.staff_id,
                    action=action,
                    actor=actor,
                )
                answer = {"action": action, "mapping": self._mapping_view(mapping, self._names(company_id))}
                return {**answer, **self._provision_own_changes(self._resolver.company(company_id))}
            rule = self._resolver.add_rule(
                company_id, match_on, value, request.staff_id, actor, request.reason
            )
        except NotFound as exc:  # the staff member vanished between our check and the resolver's
            raise UnknownStaff(exc.message) from exc
        finally:
            self._resolver.forget(company_id)
        logger.info(
            "host rule set by an admin",
            company_id=company_id,
            match_on=match_on,
            staff_id=request.staff_id,
            actor=actor,
        )
        names = self._names(company_id)
        return {
            "action": "created",
            "rule": self._rule_view(rule, names),
            "warnings": self._shadowed(rule, names),
        }

    def deactivate(self, company_id: str, host: int, actor: str, reason: str) -> dict[str, Any]:
        self._resolver.company(company_id)
        current = self._mappings.get(company_id, host)
        if current is None or not current.is_active:
            raise NoActiveMapping(f"host {host} has no active mapping in company {company_id!r}")
        try:
            mapping = self._resolver.deactivate(company_id, host, actor, reason)
        finally:
            self._resolver.forget(company_id)
        logger.info("host mapping deactivated by an admin", company_id=company_id, host_id=host, actor=actor)
        return {"mapping": self._mapping_view(mapping, self._names(company_id))}

    def audit_trail(self, company_id: str, host: int) -> dict[str, Any]:
        self._resolver.company(company_id)
        trail = sorted(self._resolver.audit_trail(company_id, host), key=lambda a: a.changed_at)
        return {"host_id": host, "audit": [_audit_view(a) for a in trail]}

    # -------------------------------------------------------------- the review queue

    def review_candidates(self, company_id: str) -> dict[str, Any]:
        """Open reviews: hosts with candidates none of which could be linked automatically."""
        return {"review_candidates": self._reviews_view(company_id, "review")}

    def unmapped_hosts(self, company_id: str) -> dict[str, Any]:
        """Open reviews: hosts nobody in the staff list plausibly matches."""
        return {"unmapped_hosts": self._reviews_view(company_id, "unmapped")}

    # -------------------------------------------------------------- internals

    def _require_staff(self, company_id: str, staff_id: str) -> None:
        try:
            member = self._staff.get(company_id, staff_id)
        except NotFound as exc:
            raise UnknownStaff(f"unknown staff member {staff_id!r} in company {company_id!r}") from exc
        if not member.active:
            raise InvalidRequest(
                f"staff member {staff_id!r} is inactive; activate them first (import with active=true)",
                field="staff_id",
            )

    def _names(self, company_id: str) -> dict[str, str]:
        return {staff_id: m.name for staff_id, m in self._resolver.directory(company_id).items()}

    @staticmethod
    def _mapping_view(mapping: HostMapping, names: Mapping[str, str]) -> dict[str, Any]:
        view = mapping.model_dump(mode="json", exclude={"company_id"})
        view["staff_name"] = names.get(mapping.staff_id)
        return view

    @staticmethod
    def _rule_view(rule: ManualRuleRecord, names: Mapping[str, str]) -> dict[str, Any]:
        view = rule.model_dump(mode="json", exclude={"company_id"})
        view["staff_name"] = names.get(rule.staff_id)
        return view

    def _shadowed(self, rule: ManualRuleRecord, names: Mapping[str, str]) -> list[str]:
        """Active mappings a new rule cannot change: rules apply only to hosts not mapped yet."""
        attribute = "calcom_email" if rule.match_on == "email" else "calcom_username"
        return [
            f"host {m.host_id} with this {rule.match_on} is already mapped to {m.staff_id} "
            f"({names.get(m.staff_id, '?')}); a rule applies only to hosts without an active mapping: "
            f"map host_id {m.host_id} to change it"
            for m in self._mappings.list(company_id=rule.company_id)
            if (getattr(m, attribute) or "").strip().lower() == rule.value and m.staff_id != rule.staff_id
        ]

    def _reviews_view(self, company_id: str, kind: Literal["review", "unmapped"]) -> list[dict[str, Any]]:
        self._resolver.company(company_id)
        names = self._names(company_id)
        reviews = sorted(self._reviews.list(company_id, kind=kind), key=lambda r: r.last_seen, reverse=True)
        return [self._review_view(r, names) for r in reviews]

    @staticmethod
    def _review_view(review: HostReview, names: Mapping[str, str]) -> dict[str, Any]:
        view = review.model_dump(
            mode="json", include={"host_key", "host", "reason", "seen_count", "first_seen", "last_seen"}
        )
        if review.kind == "review":
            view["candidates"] = [
                {
                    "staff_id": c.staff_id,
                    "staff_name": names.get(c.staff_id),
                    "source": c.source.value,
                    "confidence": c.confidence,
                    "reason": c.reason,
                }
                for c in review.candidates
            ]
        return view
