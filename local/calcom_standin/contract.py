"""Cal.com's contract, as JSON Schemas, applied to requests and answers of the stand-in.

The schemas live in docs/reference/calcom-contract/ (one per operation calbridge uses, each rule
citing Cal.com's docs or DTOs; README.md there lists the uncertain points, and this folder's
README.md how the stand-in resolved them). This module:

- finds a request's operation (index.json: method + path template),
- drops what Cal.com's global ValidationPipe strips (``x-calcom-unknown: "stripped"``:
  whitelist without forbidNonWhitelisted, apps/api/v2/src/bootstrap.ts),
- validates the rest with `jsonschema` (draft 2020-12) and turns every failed rule into the
  class-validator error Cal.com would answer with: the versioned pipes' text
  ``"<prop> property is wrong,<constraint> "`` (create-booking-input.pipe.ts & co.) or the global
  pipe's ``BadRequestException({errors})``,
- notes hidden properties (``x-calcom-hidden``) and header values the docs want
  (``x-calcom-warn-unless``), which Cal.com accepts but a careful client does not rely on,
- validates the stand-in's own answers against the response schemas (a stand-in that answers
  what Cal.com would not is a bug of the stand-in).

`TRAFFIC` keeps every request any stand-in in this process received, so a test run can check the
whole suite's Cal.com traffic at its end (tests/conftest.py, `check_traffic`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from local.calcom_standin import availability as av

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "docs" / "reference" / "calcom-contract"

#: Operations whose input goes through a versioned pipe with whitelist + forbidNonWhitelisted and
#: Cal.com's "<prop> property is wrong,..." message ([PIPE-create-booking], [PIPE-cancel],
#: [PIPE-reschedule], [PIPE-slots] in index.json's sources). Every other operation goes through
#: the global ValidationPipe: BadRequestException({errors}) -> "Bad Request Exception".
VERSIONED_PIPES = frozenset(
    {
        "get_v2_slots_2024-09-04",
        "post_v2_bookings_2024-08-13",
        "post_v2_bookings_uid_cancel_2024-08-13",
        "post_v2_bookings_uid_reschedule_2024-08-13",
    }
)

MSG_BODY_REQUIRED = "Body is required"
MSG_CONTACT = "Attendee must have at least one contact method (email or phone number)"
MSG_EVENT_LOOKUP = (
    "Either eventTypeId or eventTypeSlug + username or eventTypeSlug + teamSlug must be provided"
)
MSG_METADATA = (
    "Metadata must have at most 50 keys, each key up to 40 characters, and string values up to 500 "
    "characters."
)
MSG_HOSTS_OR_ALL = "Provide either hosts or assignAllTeamMembers but not both"

_TYPE_WORDS = {
    "string": "must be a string",
    "integer": "must be an integer number",
    "number": "must be a number conforming to the specified constraints",
    "boolean": "must be a boolean value",
    "object": "must be an object",
    "array": "must be an array",
}
_FORMAT_WORDS = {
    "iana-time-zone": "must be a valid IANA time-zone",
    "email": "must be an email",
    "phone-e164": "must be a valid phone number",
    "uri": "must be a URL address",
}
_EMAIL = re.compile(
    r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
)
_DATE_PATTERN_HINT = r"^\d{4}-"


# ---------------------------------------------------------------------------------------------
# formats (the contract's own names; README uncertain point 4)

FORMATS = FormatChecker()


@FORMATS.checks("iana-time-zone")
def _iana_time_zone(value: object) -> bool:
    return not isinstance(value, str) or av.zone(value) is not None


@FORMATS.checks("phone-e164")
def _phone(value: object) -> bool:
    """libphonenumber-js/max `isValidPhoneNumber` in Cal.com; Google's libphonenumber port here."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\+[1-9]\d{1,14}", value):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


@FORMATS.checks("email")
def _email(value: object) -> bool:
    """validator.js `isEmail` (Cal.com's IsEmail), approximated."""
    return not isinstance(value, str) or (bool(_EMAIL.fullmatch(value)) and len(value) <= 254)


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    """validator.js `isURL` (Cal.com's IsUrl), approximated: a scheme and a host."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# ---------------------------------------------------------------------------------------------
# the operations


@dataclass(frozen=True)
class Operation:
    id: str
    method: str
    path: str  # template, e.g. /v2/bookings/{bookingUid}
    regex: re.Pattern[str]
    request: Draft202012Validator
    response: Draft202012Validator | None


@dataclass
class Problem:
    """One broken rule: where (a JSON path into the logged request), what, and the rule's source."""

    where: str
    rule: str
    source: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}" + (f" [{self.source}]" if self.source else "")


@dataclass
class Verdict:
    """What the contract says about one request."""

    operation: str | None
    violations: list[Problem] = field(default_factory=list)  # Cal.com answers 400
    stripped: list[str] = field(default_factory=list)  # Cal.com silently drops these
    hidden: list[str] = field(default_factory=list)  # accepted, but not in Cal.com's docs
    warnings: list[Problem] = field(default_factory=list)  # e.g. a header value the docs want
    errors: list[ValidationError] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "violations": [str(p) for p in self.violations],
            "stripped": list(self.stripped),
            "hidden": list(self.hidden),
            "warnings": [str(p) for p in self.warnings],
        }


class Contract:
    """The operations of docs/reference/calcom-contract/index.json, ready to validate."""

    def __init__(self, directory: Path = CONTRACT_DIR) -> None:
        index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
        self.sources: dict[str, str] = index.get("sources", {})

        def validator(name: str | None) -> Draft202012Validator | None:
            if not name:
                return None
            schema = json.loads((directory / name).read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
            return Draft202012Validator(schema, format_checker=FORMATS)

        self.operations = [
            Operation(
                id=op["id"],
                method=op["method"],
                path=op["path"],
                regex=re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op["path"])) + "$"),
                request=validator(op["request"]),  # type: ignore[arg-type]
                response=validator(op.get("response")),
            )
            for op in index["operations"]
        ]
        self.error_response = validator("error.response.json")

    def operation(self, method: str, path: str) -> Operation | None:
        return next((op for op in self.operations if op.method == method and op.regex.fullmatch(path)), None)

    # -- requests -------------------------------------------------------------------------------

    def check_request(self, request: dict[str, Any]) -> tuple[Verdict, dict[str, Any]]:
        """Validate one request ``{method, path, cal_api_version, query, body}``.

        Returns the verdict and the request as Cal.com's handler would see it: stripped keys
        removed (the input is not changed)."""
        op = self.operation(request["method"], request["path"])
        if op is None:
            return Verdict(
                None, [Problem("path", f"Cal.com has no {request['method']} {request['path']}")]
            ), request
        verdict = Verdict(op.id)
        seen = copy.deepcopy(request)
        if seen.get("query") is None:
            seen["query"] = {}
        schema = op.request.schema
        for part in ("query", "body"):
            part_schema = schema.get("properties", {}).get(part)
            if part_schema is not None and seen.get(part) is not None:
                self._walk(op.request, part_schema, seen[part], part, verdict)
        verdict.errors = sorted(op.request.iter_errors(seen), key=lambda e: list(e.absolute_path))
        verdict.violations = [_problem(e) for e in verdict.errors]
        header = schema.get("properties", {}).get("cal_api_version", {})
        wanted = header.get("x-calcom-warn-unless")
        if wanted and seen.get("cal_api_version") != wanted and not verdict.violations:
            verdict.warnings.append(
                Problem(
                    "cal_api_version",
                    f"sent {seen.get('cal_api_version')!r}; Cal.com's docs want {wanted!r}",
                    "contract README, uncertain point 1",
                )
            )
        return verdict, seen

    def _walk(
        self, root: Draft202012Validator, schema: dict[str, Any], value: Any, where: str, verdict: Verdict
    ) -> None:
        """Strip what Cal.com strips (in place) and note hidden properties, following the schema
        through properties, array items, allOf and the if/then/else the instance selects."""
        if not isinstance(schema, dict):
            return
        if "if" in schema:
            chosen = "then" if root.evolve(schema=schema["if"]).is_valid(value) else "else"
            if chosen in schema:
                self._walk(root, schema[chosen], value, where, verdict)
        for sub in schema.get("allOf", []):
            self._walk(root, sub, value, where, verdict)
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                self._walk(root, schema["items"], item, f"{where}[{index}]", verdict)
        if not isinstance(value, dict):
            return
        properties = schema.get("properties", {})
        if schema.get("x-calcom-unknown") == "stripped":
            for key in [k for k in value if k not in properties]:
                verdict.stripped.append(f"{where}.{key}")
                del value[key]
        for key, sub in properties.items():
            if key not in value:
                continue
            if isinstance(sub, dict) and sub.get("x-calcom-hidden"):
                verdict.hidden.append(f"{where}.{key}")
            self._walk(root, sub, value[key], f"{where}.{key}", verdict)

    # -- answers --------------------------------------------------------------------------------

    def check_response(self, operation_id: str | None, status: int, body: Any) -> list[str]:
        """Problems of an answer: a 2xx against the operation's response schema, an error (4xx/5xx
        with Cal.com's envelope) against error.response.json."""
        op = next((o for o in self.operations if o.id == operation_id), None)
        if op is None:
            return []
        if 200 <= status < 300:
            validator = op.response
        elif isinstance(body, dict) and "status" in body:
            validator = self.error_response
        else:
            return []  # raw Nest bodies ({statusCode, message}) and HTML from a proxy: no envelope
        if validator is None:
            return []
        return [str(_problem(e)) for e in validator.iter_errors(body)]


@cache
def contract() -> Contract:
    """The contract of this checkout, loaded once per process."""
    return Contract()


# ---------------------------------------------------------------------------------------------
# class-validator errors


@dataclass
class FieldError:
    """One class-validator error as Cal.com's versioned pipes flatten it into ``message``."""

    prop: str
    constraints: list[str] = field(default_factory=list)
    children: list[FieldError] = field(default_factory=list)

    def child(self, prop: str) -> FieldError:
        found = next((c for c in self.children if c.prop == prop), None)
        if found is None:
            found = FieldError(prop)
            self.children.append(found)
        return found

    def as_validation_error(self) -> dict[str, Any]:
        """The shape of a class-validator ValidationError (the global pipe's ``details.errors``)."""
        return {
            "property": self.prop,
            "children": [c.as_validation_error() for c in self.children],
            "constraints": {f"rule{i}": text for i, text in enumerate(self.constraints)},
        }


def pipe_message(verdict: Verdict, request: dict[str, Any]) -> str:
    """The message of a versioned pipe's 400: "Body is required" when a body is, else the failed
    rules in Cal.com's "<prop> property is wrong,..." format."""
    if request.get("body") is None and any(list(e.absolute_path) == ["body"] for e in verdict.errors):
        return MSG_BODY_REQUIRED
    return format_errors(field_errors(verdict))


def format_errors(errors: Iterable[FieldError]) -> str:
    """``"<prop> property is wrong,<constraints> <children>"`` joined by ``", "`` (Cal.com's format)."""
    return ", ".join(
        f"{e.prop} property is wrong,{', '.join(e.constraints)} {format_errors(e.children)}" for e in errors
    )


def field_errors(verdict: Verdict) -> list[FieldError]:
    """The failed rules of a verdict as class-validator errors, one tree per top-level property."""
    roots: dict[str, FieldError] = {}
    for error in verdict.errors:
        path = [str(p) for p in error.absolute_path if not isinstance(p, int)]
        part = path[0] if path else ""
        props = path[1:]
        for prop, text in _constraints(error, part):
            chain = [*props, prop] if prop else props
            if "metadata" in chain:  # one message for every metadata rule (validate-metadata.ts)
                chain = chain[: chain.index("metadata") + 1]
            if not chain:
                chain = [part or "request"]
            node = roots.setdefault(chain[0], FieldError(chain[0]))
            for name in chain[1:]:
                node = node.child(name)
            if text not in node.constraints:
                node.constraints.append(text)
    return list(roots.values())


def _constraints(error: ValidationError, part: str) -> Iterator[tuple[str | None, str]]:
    """(property the rule is about, relative to the failing instance (None = itself), message)."""
    path = [p for p in error.absolute_path if not isinstance(p, int)]
    name = str(path[-1]) if len(path) > 1 else part
    keyword, instance = error.validator, error.instance
    if keyword == "additionalProperties" and isinstance(instance, dict):
        if path and str(path[-1]) == "metadata":
            yield None, MSG_METADATA
            return
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        for key in instance:
            if key not in known:
                yield str(key), f"property {key} should not exist"
        return
    if keyword == "required" and isinstance(instance, dict):
        for key in error.validator_value:
            if key not in instance:
                if key == "body":
                    yield None, MSG_BODY_REQUIRED
                else:
                    yield str(key), f"{key} should not be null or undefined"
        return
    if keyword == "anyOf":
        if name == "attendee":
            yield None, MSG_CONTACT
        elif name == "body":
            yield "eventTypeId", MSG_EVENT_LOOKUP
        else:
            yield None, f"{name} does not match any allowed shape"
        return
    if keyword == "not":
        yield None, MSG_HOSTS_OR_ALL
        return
    if "metadata" in [str(p) for p in path]:
        yield None, MSG_METADATA
        return
    if keyword == "type":
        wanted = error.validator_value
        word = _TYPE_WORDS.get(wanted if isinstance(wanted, str) else wanted[0], "has the wrong type")
        yield None, f"{name} {word}"
    elif keyword == "format":
        yield None, f"{name} {_FORMAT_WORDS.get(error.validator_value, 'has the wrong format')}"
    elif keyword == "pattern":
        if str(error.validator_value).startswith(_DATE_PATTERN_HINT):
            yield None, f"{name} must be a valid ISO 8601 date string"
        else:
            yield None, f"{name} must match {error.validator_value} regular expression"
    elif keyword in ("enum", "const"):
        values = error.validator_value if keyword == "enum" else [error.validator_value]
        yield None, f"{name} must be one of the following values: {', '.join(map(str, values))}"
    elif keyword in ("minimum", "exclusiveMinimum"):
        yield None, f"{name} must not be less than {error.validator_value}"
    elif keyword in ("maximum", "exclusiveMaximum"):
        yield None, f"{name} must not be greater than {error.validator_value}"
    elif keyword == "minLength":
        yield None, f"{name} must be longer than or equal to {error.validator_value} characters"
    elif keyword == "maxLength":
        yield None, f"{name} must be shorter than or equal to {error.validator_value} characters"
    elif keyword == "minItems":
        yield None, f"{name} must contain at least {error.validator_value} elements"
    elif keyword == "uniqueItems":
        yield None, f"All {name}'s elements must be unique"
    else:
        yield None, f"{name}: {error.message}"


def _problem(error: ValidationError) -> Problem:
    where = ".".join(str(p) for p in error.absolute_path) or "(request)"
    comment = error.schema.get("$comment", "") if isinstance(error.schema, dict) else ""
    sources = re.findall(r"\[([A-Z][A-Za-z0-9-]+)\]", comment)
    rule = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    return Problem(where, f"{error.validator}: {rule}", ", ".join(dict.fromkeys(sources)))


# ---------------------------------------------------------------------------------------------
# the suite's traffic


class Traffic:
    """Every request the stand-ins of this process received (what the end-of-run check reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, user_agent_prefix: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self._entries)
        if user_agent_prefix is None:
            return found
        return [e for e in found if str(e.get("user_agent") or "").startswith(user_agent_prefix)]


TRAFFIC = Traffic()


@dataclass
class TrafficReport:
    checked: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)  # one line per broken rule, with the request

    @property
    def ok(self) -> bool:
        return not self.violations


def check_traffic(entries: Iterable[dict[str, Any]]) -> TrafficReport:
    """Validate recorded requests against the contract; anything not clean is a violation: a rule
    Cal.com enforces, a key it would strip, a hidden property, a header its docs do not want, or an
    answer of the stand-in that Cal.com would not give."""
    report = TrafficReport()
    checker = contract()
    for entry in entries:
        report.checked += 1
        request = {key: entry.get(key) for key in ("method", "path", "cal_api_version", "query", "body")}
        verdict, _ = checker.check_request(request)
        name = verdict.operation or f"{entry.get('method')} {entry.get('path')}"
        report.by_operation[name] = report.by_operation.get(name, 0) + 1
        problems = [f"violates {p}" for p in verdict.violations]
        problems += [f"sends {key}, which Cal.com silently strips" for key in verdict.stripped]
        problems += [f"relies on the hidden property {key}" for key in verdict.hidden]
        problems += [f"warning {p}" for p in verdict.warnings]
        problems += [f"stand-in answer: {p}" for p in entry.get("response_problems") or []]
        if problems:
            shown = json.dumps(request, ensure_ascii=False, default=str)
            if len(shown) > 600:
                shown = shown[:600] + "…"
            report.violations.extend(f"{name}: {problem}\n    request: {shown}" for problem in problems)
    return report
