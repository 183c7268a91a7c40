"""The Cal.com v2 stand-in: a Werkzeug WSGI app with Cal.com's endpoints and a control API.

``CalcomStandIn(fixture).start()`` serves it on a daemon thread and returns the base URL; see
README.md in this folder for the endpoints, the control API and the behaviour choices.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local.calcom_standin import availability as av
from local.calcom_standin.contract import (
    TRAFFIC,
    VERSIONED_PIPES,
    Verdict,
    contract,
    field_errors,
    pipe_message,
)
from local.calcom_standin.faults import FaultInjector, FaultRule, RateLimiter, RequestLog
from local.calcom_standin.state import (
    ApiError,
    Behaviour,
    Clock,
    Mutation,
    Store,
    constraint,
    pipe_error,
)
from local.calcom_standin.webhooks import WebhookDispatcher

log = logging.getLogger(__name__)

MSG_NO_AUTH = (
    "ApiAuthStrategy - No authentication method provided. Either pass an API key as 'Bearer' header or "
    "OAuth client credentials as 'x-cal-secret-key' and 'x-cal-client-id' headers"
)
MSG_INVALID_KEY = "ApiAuthStrategy - api key - Your api key is not valid"
MSG_THROTTLED = "CustomThrottlerGuard - Too many requests. Please try again later."


def api_key_hash(api_key: str) -> str:
    """How the request log and GET /_standin/api-keys name a key: 32 hex of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


# cal-api-version per endpoint family, from the contract (docs/reference/calcom-contract): bookings
# `2024-08-13` exactly, slots `2024-09-04`, user event types `2024-06-14`; the teams controllers
# (memberships, team event types) serve every known version and none (API_VERSIONS_VALUES).
VERSION_FAMILIES = (
    ("/v2/slots", ("2024-09-04",)),
    ("/v2/bookings", ("2024-08-13",)),
    ("/v2/event-types", ("2024-06-14",)),
)

API_RULES = [
    Rule("/v2/slots", methods=["GET"], endpoint="slots"),
    Rule("/v2/bookings", methods=["GET"], endpoint="bookings_list"),
    Rule("/v2/bookings", methods=["POST"], endpoint="bookings_create"),
    Rule("/v2/bookings/<uid>", methods=["GET"], endpoint="booking_get"),
    Rule("/v2/bookings/<uid>/cancel", methods=["POST"], endpoint="booking_cancel"),
    Rule("/v2/bookings/<uid>/reschedule", methods=["POST"], endpoint="booking_reschedule"),
    Rule("/v2/teams", methods=["GET"], endpoint="teams_list"),
    Rule("/v2/teams/<int:team_id>", methods=["GET"], endpoint="team_get"),
    Rule("/v2/teams/<int:team_id>/memberships", methods=["GET"], endpoint="memberships"),
    Rule("/v2/teams/<int:team_id>/memberships/<int:membership_id>", methods=["GET"], endpoint="membership"),
    Rule("/v2/teams/<int:team_id>/event-types", methods=["GET"], endpoint="team_event_types"),
    Rule("/v2/teams/<int:team_id>/event-types", methods=["POST"], endpoint="team_event_type_create"),
    Rule(
        "/v2/teams/<int:team_id>/event-types/<int:event_type_id>", methods=["GET"], endpoint="team_event_type"
    ),
    Rule(
        "/v2/teams/<int:team_id>/event-types/<int:event_type_id>",
        methods=["PATCH"],
        endpoint="team_event_type_update",
    ),
    Rule(
        "/v2/teams/<int:team_id>/event-types/<int:event_type_id>",
        methods=["DELETE"],
        endpoint="team_event_type_delete",
    ),
    Rule("/v2/event-types", methods=["GET"], endpoint="event_types"),
    Rule("/v2/event-types/<int:event_type_id>", methods=["GET"], endpoint="event_type"),
]

CONTROL_RULES = [
    Rule("/_standin", methods=["GET"], endpoint="info"),
    Rule("/_standin/", methods=["GET"], endpoint="info"),
    Rule("/_standin/reset", methods=["POST"], endpoint="reset"),
    Rule("/_standin/bookings", methods=["GET"], endpoint="bookings"),
    Rule("/_standin/bookings", methods=["POST"], endpoint="bookings_seed"),
    Rule("/_standin/faults", methods=["GET"], endpoint="faults_get"),
    Rule("/_standin/faults", methods=["POST"], endpoint="faults_set"),
    Rule("/_standin/faults", methods=["DELETE"], endpoint="faults_clear"),
    Rule("/_standin/latency", methods=["GET", "POST"], endpoint="latency"),
    Rule("/_standin/rate-limit", methods=["GET", "POST"], endpoint="rate_limit"),
    Rule("/_standin/requests", methods=["GET"], endpoint="requests_get"),
    Rule("/_standin/requests", methods=["DELETE"], endpoint="requests_clear"),
    Rule("/_standin/clock", methods=["GET", "POST"], endpoint="clock"),
    Rule("/_standin/webhooks", methods=["GET"], endpoint="webhooks_get"),
    Rule("/_standin/webhooks", methods=["POST"], endpoint="webhooks_add"),
    Rule("/_standin/webhooks", methods=["DELETE"], endpoint="webhooks_clear"),
    Rule("/_standin/teams", methods=["GET"], endpoint="teams_get"),
    Rule("/_standin/teams", methods=["POST"], endpoint="teams_add"),
    Rule("/_standin/members", methods=["POST"], endpoint="member_upsert"),
    Rule("/_standin/members/<int:user_id>", methods=["PUT", "PATCH"], endpoint="member_upsert"),
    Rule("/_standin/members/<int:user_id>", methods=["DELETE"], endpoint="member_delete"),
    Rule("/_standin/memberships/extra", methods=["GET", "POST"], endpoint="memberships_extra"),
    Rule("/_standin/memberships/extra", methods=["DELETE"], endpoint="memberships_extra_clear"),
    Rule("/_standin/behaviour", methods=["GET", "POST"], endpoint="behaviour"),
    Rule("/_standin/versions", methods=["GET", "POST"], endpoint="versions"),
    Rule("/_standin/api-keys", methods=["GET"], endpoint="api_keys_get"),
    Rule("/_standin/api-keys", methods=["POST"], endpoint="api_keys_add"),
    Rule("/_standin/api-keys", methods=["DELETE"], endpoint="api_keys_revoke"),
    Rule("/_standin/emails", methods=["GET"], endpoint="emails_get"),
    Rule("/_standin/emails", methods=["DELETE"], endpoint="emails_clear"),
]


def load_fixture(fixture: dict[str, Any] | str | Path) -> dict[str, Any]:
    """A fixture dict as is, or the JSON file at a path."""
    if isinstance(fixture, dict):
        return copy.deepcopy(fixture)
    return json.loads(Path(fixture).read_text(encoding="utf-8"))


def _url(request: Request) -> str:
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


def _query(request: Request) -> dict[str, Any]:
    """The query string as the contract reads it: one value a string, a repeated key a list."""
    return {key: values[0] if len(values) == 1 else values for key, values in request.args.lists()}


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers=headers or {},
    )


class _BadJson(Exception):
    pass


class StandInApp:
    """The WSGI application (state, faults, rate limit, log, webhooks)."""

    def __init__(
        self,
        fixture: dict[str, Any],
        *,
        rate_limit: bool = True,
        rate_limit_per_minute: int = 120,
        strict_versions: bool = True,
        behaviour: dict[str, Any] | None = None,
        webhooks: list[dict[str, Any]] | None = None,
    ) -> None:
        self.clock = Clock()
        default_behaviour = Behaviour()
        default_behaviour.update(behaviour or {})
        self.store = Store(fixture, self.clock, default_behaviour)
        self.faults = FaultInjector()
        self._rate_defaults = (rate_limit, rate_limit_per_minute)
        self.rate_limiter = RateLimiter(enabled=rate_limit, limit=rate_limit_per_minute)
        self.requests = RequestLog()
        self.webhooks = WebhookDispatcher(self.clock.now)
        for sub in webhooks or []:
            self.webhooks.subscribe(
                sub["url"], sub.get("secret"), sub.get("triggers"), static=True, team_id=sub.get("team_id")
            )
        self._strict_default = strict_versions
        self.strict_versions = strict_versions
        self.latency_ms = 0
        self.stopping = threading.Event()
        self.api_map = Map([rule.empty() for rule in API_RULES], strict_slashes=False)
        self.control_map = Map([rule.empty() for rule in CONTROL_RULES], strict_slashes=False)

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/_standin" or request.path.startswith("/_standin/"):
            response = self._control(request)
        else:
            response = self._api(request)
        return response(environ, start_response)

    def reset(self) -> None:
        """Back to the fixture state and the constructor's settings (static webhooks are kept)."""
        self.store.reset()
        self.faults.clear()
        enabled, limit = self._rate_defaults
        self.rate_limiter.configure(enabled=enabled, limit=limit, window_s=60.0, block_s=60.0)
        self.requests.clear()
        self.webhooks.clear(keep_static=True)
        self.clock.freeze(None)
        self.latency_ms = 0
        self.strict_versions = self._strict_default

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)

    # -- /v2 ----------------------------------------------------------------------------------

    def _error(self, url: str, error: ApiError, headers: dict[str, str] | None = None) -> Response:
        """Cal.com's HttpExceptionFilter (apps/api/v2/src/filters/http-exception.filter.ts):
        ``{status, timestamp, path, error: {code, message, details}}`` with details =
        exception.getResponse(), which Nest builds as ``{message, error, statusCode}`` for a string
        message; or Nest's bare body where Cal.com was observed answering without the filter."""
        if error.raw:
            return _json_response(
                error.status, {"statusCode": error.status, "message": error.message}, headers
            )
        details = error.details
        if details is None:
            details = {
                "message": error.message,
                "error": _REASONS.get(error.status, "Error"),
                "statusCode": error.status,
            }
        body: dict[str, Any] = {"code": error.code, "message": error.message, "details": details}
        payload = {"status": "error", "timestamp": av.iso_ms_z(self.clock.now()), "path": url, "error": body}
        return _json_response(error.status, payload, headers)

    def _fault_response(self, rule: FaultRule, url: str, headers: dict[str, str]) -> Response:
        if rule.fault == "timeout":
            self._sleep(rule.sleep_s)
            return self._error(url, ApiError(504, "Gateway Timeout"), headers)
        if rule.fault == "429":
            throttled = {
                **headers,
                "X-RateLimit-Remaining-Default": "0",
                "X-RateLimit-Reset-Default": str(rule.reset_s),
            }
            return self._error(url, ApiError(429, MSG_THROTTLED), throttled)
        if rule.fault == "4xx":
            return self._error(url, ApiError(rule.status or 400, rule.message or "", code=rule.code), headers)
        status = rule.status or 500
        if rule.body == "raw":
            message = "Internal server error" if status == 500 else "Service unavailable"
            return _json_response(status, {"statusCode": status, "message": message}, headers)
        if rule.body == "html":
            text = f"<html><body><h1>{status}</h1>upstream error (Cal.com stand-in fault)</body></html>"
            return Response(text, status=status, mimetype="text/html", headers=headers)
        if status == 500:
            error = ApiError(500, "Internal server error.", code="INTERNAL_SERVER_ERROR")
        else:
            error = ApiError(
                status, {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}[status]
            )
        return self._error(url, error, headers)

    @staticmethod
    def _family(path: str) -> tuple[str, tuple[str, ...]] | None:
        for prefix, accepted in VERSION_FAMILIES:
            if path == prefix or path.startswith(prefix + "/"):
                return prefix, accepted
        return None

    def _version_error(self, method: str, path: str, version: str | None, url: str) -> ApiError | None:
        family = self._family(path)
        if family is None:
            return None
        prefix, accepted = family
        if version in accepted or not self.strict_versions:
            return None
        not_found = ApiError(404, f"Cannot {method} {url}")
        if prefix == "/v2/slots":
            return not_found  # only the 2024-09-04 controller has GET /v2/slots
        if prefix == "/v2/bookings" and version in ("2024-09-04", "2024-06-14", "2024-06-11"):
            return not_found
        if prefix == "/v2/bookings" and version == "2026-05-01":
            if method == "GET" and path == "/v2/bookings":
                return ApiError(
                    400,
                    "cal-api-version 2026-05-01 (cursor pagination) is not implemented by the Cal.com "
                    "stand-in; send 2024-08-13",
                )
            return not_found
        message = (
            f"cal-api-version {version or '(missing)'} is not served by {prefix}: Cal.com would answer "
            "with its legacy 2024-04-15 handler (other request and response shapes). Send "
            f"cal-api-version: {accepted[0]} "
            '(Cal.com stand-in strict version check; POST /_standin/versions {"strict": false} to relax).'
        )
        return pipe_error([constraint("cal-api-version", "standin", message)])

    def _api(self, request: Request) -> Response:
        started = time.monotonic()
        url = _url(request)
        version = request.headers.get("cal-api-version")
        try:
            body: Any = self._parse_body(request)
            bad_json = None
        except _BadJson as exc:
            body, bad_json = None, str(exc)
        entry = self.requests.start(
            {
                "time": av.iso_ms_z(self.clock.now()),
                "method": request.method,
                "path": request.path,
                "query": _query(request),
                "query_string": request.query_string.decode("latin-1"),
                "cal_api_version": version,
                "version_ok": self._version_ok(request.path, version),
                "body": body,
                "user_agent": request.headers.get("User-Agent"),
                "fault": None,
                "contract": None,
            }
        )
        try:
            response = self._api_inner(request, url, version, body, bad_json, entry)
        except Exception:  # an unexpected bug: answer as Cal.com's unhandled-error filter does
            log.exception("Cal.com stand-in failed on %s %s", request.method, url)
            error = ApiError(500, "Internal server error.", code="INTERNAL_SERVER_ERROR")
            response = self._error(url, error)
        entry["status"] = response.status_code
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        if entry["contract"] is not None and response.mimetype == "application/json":
            answer = json.loads(response.get_data())
            entry["response_problems"] = contract().check_response(
                entry["contract"]["operation"], response.status_code, answer
            )
        TRAFFIC.record(entry)
        return response

    def _version_ok(self, path: str, version: str | None) -> bool | None:
        family = self._family(path)
        return None if family is None else version in family[1]

    @staticmethod
    def _parse_body(request: Request) -> Any:
        data = request.get_data(cache=True)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise _BadJson(f"Unexpected token in JSON body: {exc}") from exc

    def _api_inner(
        self,
        request: Request,
        url: str,
        version: str | None,
        body: Any,
        bad_json: str | None,
        entry: dict[str, Any],
    ) -> Response:
        method, path = request.method, request.path
        auth = request.headers.get("Authorization")
        key = auth or f"ip:{request.remote_addr}"
        self._sleep(self.latency_ms / 1000)
        fired = self.faults.pick(method, path)
        for rule in fired:
            if rule.fault == "latency":
                self._sleep(rule.latency_ms / 1000)
        fault = next((r for r in fired if r.fault != "latency"), None)
        if fired:
            entry["fault"] = [r.fault for r in fired]
        if fault is not None and fault.phase == "before":
            return self._fault_response(fault, url, self.rate_limiter.peek(key))

        adapter = self.api_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed):
            return self._error(url, ApiError(404, f"Cannot {method} {url}"))
        version_error = self._version_error(method, path, version, url)
        if version_error is not None and version_error.status == 404:
            return self._error(url, version_error)

        allowed, headers = self.rate_limiter.hit(key)
        if not allowed:
            return self._error(url, ApiError(429, MSG_THROTTLED), headers)
        if not auth or not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
            return self._error(url, ApiError(401, MSG_NO_AUTH), headers)
        token = auth[len("Bearer ") :].strip()
        entry["api_key_hash"] = api_key_hash(token)
        if not self.store.knows_api_key(token):
            return self._error(url, ApiError(401, MSG_INVALID_KEY), headers)
        caller = self.store.api_key_user(token)
        if version_error is not None:
            return self._error(url, version_error, headers)
        if bad_json is not None:
            return self._error(url, ApiError(400, bad_json), headers)

        query = entry["query"]
        if contract().operation(method, path) is not None:
            call = {"method": method, "path": path, "cal_api_version": version, "query": query, "body": body}
            verdict, seen = contract().check_request(call)
            entry["contract"] = verdict.to_dict()
            refusal = self._contract_refusal(verdict, call)
            if refusal is not None:
                return self._error(url, refusal, headers)
            query, body = seen["query"], seen["body"]

        try:
            status, payload, mutation = getattr(self, f"_v2_{endpoint}")(query, body, caller, **args)
        except ApiError as error:
            response = self._error(url, error, headers)
        else:
            response = _json_response(status, payload, headers)
            if mutation is not None:
                for trigger, webhook_payload in mutation.webhooks:
                    self.webhooks.dispatch(trigger, webhook_payload)
        if fault is not None:  # phase "after": processed, then the answer is replaced
            return self._fault_response(fault, url, headers)
        return response

    @staticmethod
    def _contract_refusal(verdict: Verdict, call: dict[str, Any]) -> ApiError | None:
        """The 400 Cal.com's pipes answer for what the contract's rules refuse. The header is left
        out: Cal.com routes by it (`_version_error`), it never validates it."""
        errors = [e for e in verdict.errors if list(e.absolute_path)[:1] != ["cal_api_version"]]
        if not errors:
            return None
        verdict = Verdict(verdict.operation, errors=errors)
        if verdict.operation in VERSIONED_PIPES:
            return ApiError(400, pipe_message(verdict, call))
        return pipe_error([e.as_validation_error() for e in field_errors(verdict)])

    # -- /v2 handlers: (status, payload, mutation) ---------------------------------------------

    @staticmethod
    def _ok(
        data: Any, status: int = 200, mutation: Mutation | None = None
    ) -> tuple[int, Any, Mutation | None]:
        return status, {"status": "success", "data": data}, mutation

    def _v2_slots(
        self, query: dict[str, Any], body: Any, caller: int | None
    ) -> tuple[int, Any, Mutation | None]:
        """GET /v2/slots (2024-09-04). The contract has checked the query; the lookup variant follows
        the keys present as in Cal.com's get-slots-input.pipe.ts (eventTypeId -> by id, username +
        eventTypeSlug, teamSlug + eventTypeSlug, else usernames)."""
        keys = set(query)
        store = self.store
        with store.lock:
            if "eventTypeId" in keys:
                et = store.event_types.get(int(query["eventTypeId"]))
            elif {"teamSlug", "eventTypeSlug"} <= keys and "username" not in keys:
                if store.team_by_slug(query["teamSlug"]) is None:
                    raise ApiError(404, f"Team with slug {query['teamSlug']} not found")
                et = store.team_event_type(query["teamSlug"], query["eventTypeSlug"])
            elif "username" in keys:
                if not any(m.username == query["username"] for m in store.members.values()):
                    raise ApiError(404, f"User with username {query['username']} not found")
                et = None  # members have no personal event types in the stand-in
            else:
                et = None
            if et is None:
                raise ApiError(404, "Event Type not found")
            # slots-input.service.ts: start and end are UTC; a date-only start is 00:00:00.000Z, a
            # date-only end (or one at 00:00:00) is 23:59:59 that day. timeZone never moves the window.
            start = av.parse_iso(query["start"])
            end = av.parse_iso(query["end"])
            if start is None or end is None:
                raise ApiError(400, "start property is wrong,start must be a valid ISO 8601 date string ")
            if end.hour == 0 and end.minute == 0 and end.second == 0:
                end = end.replace(hour=23, minute=59, second=59)
            duration = et.length
            if query.get("duration") is not None and et.length_options:
                wanted = int(query["duration"])
                duration = wanted if wanted in et.length_options else et.length
            if end < start:
                return self._ok({})
            subset = None
            if query.get("rrHostSubsetIds") is not None:
                subset = store.subset(et, [int(p) for p in query["rrHostSubsetIds"].split(",")])
            starts = store.slots(
                et,
                start,
                end,
                duration=duration,
                subset=subset,
                exclude_uid=query.get("bookingUidToReschedule"),
            )
        tz_name = query.get("timeZone")
        tz = ZoneInfo(tz_name) if tz_name else UTC
        slot_format = str(query.get("format") or "time").lower()
        data: dict[str, list[dict[str, str]]] = {}
        for t in starts:
            item = {"start": av.iso_in_zone(t, tz_name)}
            if slot_format == "range":
                item["end"] = av.iso_in_zone(t + timedelta(minutes=duration), tz_name)
            data.setdefault(t.astimezone(tz).date().isoformat(), []).append(item)
        return self._ok(data)

    def _v2_bookings_create(
        self, query: dict[str, Any], body: Any, caller: int | None
    ) -> tuple[int, Any, Mutation | None]:
        mutation = self.store.create_booking(body)
        return self._ok({**mutation.booking, "isPlatformManagedUserBooking": False}, 201, mutation)

    def _v2_bookings_list(
        self, query: dict[str, Any], body: Any, caller: int | None
    ) -> tuple[int, Any, Mutation | None]:
        page, pagination = self.store.list_bookings(query, caller)
        return 200, {"status": "success", "data": page, "pagination": pagination}, None

    def _v2_booking_get(
        self, query: dict[str, Any], body: Any, caller: int | None, uid: str
    ) -> tuple[int, Any, Mutation | None]:
        return self._ok(self.store.get_booking(uid))

    def _v2_booking_cancel(
        self, query: dict[str, Any], body: Any, caller: int | None, uid: str
    ) -> tuple[int, Any, Mutation | None]:
        mutation = self.store.cancel_booking(uid, body, caller)
        return self._ok(mutation.booking, 200, mutation)

    def _v2_booking_reschedule(
        self, query: dict[str, Any], body: Any, caller: int | None, uid: str
    ) -> tuple[int, Any, Mutation | None]:
        mutation = self.store.reschedule_booking(uid, body)
        return self._ok({**mutation.booking, "isPlatformManagedUserBooking": False}, 201, mutation)

    @staticmethod
    def _team_output(team: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": team["id"],
            "name": team["name"],
            "slug": team["slug"],
            "parentId": None,
            "isOrganization": False,
            "isPrivate": False,
            "hideBookATeamMember": False,
            "metadata": {},
        }

    def _v2_teams_list(
        self, query: dict[str, Any], body: Any, caller: int | None
    ) -> tuple[int, Any, Mutation | None]:
        with self.store.lock:
            return self._ok([self._team_output(team) for team in self.store.teams_of(caller)])

    def _v2_team_get(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int
    ) -> tuple[int, Any, Mutation | None]:
        # teams.controller.ts: @Roles("TEAM_MEMBER") (docs/reference/calcom.md §4.1)
        self.store.authorize_team(caller, team_id, "MEMBER")
        return self._ok(self._team_output(self.store.teams[team_id]))

    def _v2_memberships(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int
    ) -> tuple[int, Any, Mutation | None]:
        # teams-memberships.controller.ts: @Roles("TEAM_ADMIN") (docs/reference/calcom.md §4.1)
        self.store.authorize_team(caller, team_id, "ADMIN")
        take, skip = int(query.get("take") or 250), int(query.get("skip") or 0)  # SkipTakePagination
        with self.store.lock:
            return self._ok(self.store.membership_listing(team_id)[skip : skip + take])

    def _v2_membership(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int, membership_id: int
    ) -> tuple[int, Any, Mutation | None]:
        self.store.authorize_team(caller, team_id, "ADMIN")
        with self.store.lock:
            for member in self.store.sorted_members(team_id):
                if member.membership_id == membership_id:
                    return self._ok(self.store.membership_output(member))
        raise ApiError(404, f"Membership with id {membership_id} not found")

    def _v2_team_event_types(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int
    ) -> tuple[int, Any, Mutation | None]:
        # No guard on this route in teams-event-types.controller.ts (@ 007f9b2b): any caller lists any
        # team's event types (the stand-in still wants a key on every route, README.md).
        slug = query.get("eventSlug")
        descending = query.get("sortCreatedAt") == "desc"
        with self.store.lock:
            items = [
                et
                for et in sorted(self.store.event_types.values(), key=lambda e: e.id, reverse=descending)
                if et.team_id == team_id and (slug is None or et.slug == slug)
            ]
            return self._ok([self.store.event_type_output(et) for et in items])

    def _v2_team_event_type(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int, event_type_id: int
    ) -> tuple[int, Any, Mutation | None]:
        self.store.authorize_team(caller, team_id, "ADMIN")  # @Roles("TEAM_ADMIN")
        with self.store.lock:
            return self._ok(self.store.event_type_output(self.store.get_event_type(event_type_id, team_id)))

    def _v2_team_event_type_create(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int
    ) -> tuple[int, Any, Mutation | None]:
        self.store.authorize_team(caller, team_id, "ADMIN")  # @Roles("TEAM_ADMIN")
        with self.store.lock:
            et = self.store.create_event_type(team_id, body)
            return self._ok(self.store.event_type_output(et), 201)

    def _v2_team_event_type_update(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int, event_type_id: int
    ) -> tuple[int, Any, Mutation | None]:
        self.store.authorize_team(caller, team_id, "ADMIN")  # @Roles("TEAM_ADMIN")
        with self.store.lock:
            et = self.store.update_event_type(team_id, event_type_id, body)
            return self._ok(self.store.event_type_output(et))

    def _v2_team_event_type_delete(
        self, query: dict[str, Any], body: Any, caller: int | None, team_id: int, event_type_id: int
    ) -> tuple[int, Any, Mutation | None]:
        self.store.authorize_team(caller, team_id, "ADMIN")  # @Roles("TEAM_ADMIN")
        return self._ok(self.store.delete_event_type(team_id, event_type_id))

    def _v2_event_types(
        self, query: dict[str, Any], body: Any, caller: int | None
    ) -> tuple[int, Any, Mutation | None]:
        # The stand-in's members have no personal (user) event types.
        return self._ok([])

    def _v2_event_type(
        self, query: dict[str, Any], body: Any, caller: int | None, event_type_id: int
    ) -> tuple[int, Any, Mutation | None]:
        with self.store.lock:
            et = self.store.event_types.get(event_type_id)
            if et is None:
                raise ApiError(404, f"Event type with id={event_type_id} not found")
            return self._ok(self.store.event_type_output(et))

    # -- control API --------------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        adapter = self.control_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            return _json_response(exc.code or 404, {"error": exc.description})
        try:
            body = self._parse_body(request)
            status, payload = getattr(self, f"_ctl_{endpoint}")(request, body, **args)
        except _BadJson as exc:
            return _json_response(400, {"error": str(exc)})
        except ApiError as exc:
            return _json_response(exc.status, {"error": exc.message, "details": exc.details})
        except (ValueError, KeyError, TypeError) as exc:
            return _json_response(400, {"error": f"{type(exc).__name__}: {exc}"})
        return _json_response(status, payload)

    def _ctl_info(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, {
            "service": "calcom-standin",
            "team": self.store.team,
            "teams": list(self.store.teams.values()),
            "clock": {"now": av.iso_ms_z(self.clock.now()), "frozen": self.clock.frozen},
            "rate_limit": self.rate_limiter.to_dict(),
            "latency_ms": self.latency_ms,
            "strict_versions": self.strict_versions,
            "behaviour": self.store.behaviour.to_dict(),
            "faults": self.faults.rules(),
        }

    def _ctl_reset(self, request: Request, body: Any) -> tuple[int, Any]:
        self.reset()
        return 200, {"reset": True}

    def _ctl_bookings(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, self.store.all_bookings()

    def _ctl_bookings_seed(self, request: Request, body: Any) -> tuple[int, Any]:
        items = body if isinstance(body, list) else [body]
        created = [self.store.seed_booking(item).to_output() for item in items]
        return 201, created if isinstance(body, list) else created[0]

    def _ctl_faults_get(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, self.faults.rules()

    def _ctl_faults_set(self, request: Request, body: Any) -> tuple[int, Any]:
        rules = body.get("rules") if isinstance(body, dict) else body
        if isinstance(rules, dict):
            rules = [rules]
        if not isinstance(rules, list):
            raise ValueError('send a list of rules (or {"rules": [...]})')
        if request.args.get("append") in ("1", "true"):
            self.faults.add(rules)
        else:
            self.faults.set(rules)
        return 200, self.faults.rules()

    def _ctl_faults_clear(self, request: Request, body: Any) -> tuple[int, Any]:
        self.faults.clear()
        return 200, []

    def _ctl_latency(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            ms = int((body or {}).get("ms", 0))
            if ms < 0:
                raise ValueError("ms must be >= 0")
            self.latency_ms = ms
        return 200, {"ms": self.latency_ms}

    def _ctl_rate_limit(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            body = body or {}
            self.rate_limiter.configure(
                enabled=body.get("enabled"),
                limit=int(body["limit"]) if body.get("limit") is not None else None,
                window_s=float(body["window_s"]) if body.get("window_s") is not None else None,
                block_s=float(body["block_s"]) if body.get("block_s") is not None else None,
            )
        return 200, self.rate_limiter.to_dict()

    def _ctl_api_keys_get(self, request: Request, body: Any) -> tuple[int, Any]:
        """The keys accepted now, by hash only (as the request log names them)."""
        with self.store.lock:
            keys = [{"api_key_hash": api_key_hash(k), "user_id": u} for k, u in self.store.api_keys.items()]
        return 200, keys

    def _ctl_api_keys_add(self, request: Request, body: Any) -> tuple[int, Any]:
        """`{"api_key": "cal_...", "user_id": <member, default the fixture key's user>}`: a key
        Cal.com accepts from now on (another admin's key of the team)."""
        body = body or {}
        user = self.store.add_api_key(body["api_key"], body.get("user_id"))
        return 201, {"api_key_hash": api_key_hash(body["api_key"]), "user_id": user}

    def _ctl_api_keys_revoke(self, request: Request, body: Any) -> tuple[int, Any]:
        """`{"api_key": "cal_..."}`: deleted in Cal.com's settings; its next request is a 401."""
        revoked = self.store.revoke_api_key((body or {})["api_key"])
        return (200 if revoked else 404), {"revoked": revoked}

    def _ctl_requests_get(self, request: Request, body: Any) -> tuple[int, Any]:
        since = int(request.args.get("since", 0))
        return 200, self.requests.entries(
            path=request.args.get("path"), method=request.args.get("method"), since=since
        )

    def _ctl_requests_clear(self, request: Request, body: Any) -> tuple[int, Any]:
        self.requests.clear()
        return 200, []

    def _ctl_clock(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            body = body or {}
            if "now" in body:
                if body["now"] is None:
                    self.clock.freeze(None)
                else:
                    instant = av.parse_iso(body["now"])
                    if instant is None:
                        raise ValueError("now must be an ISO 8601 date-time (or null for real time)")
                    self.clock.freeze(instant)
            if body.get("advance_s") is not None:
                self.clock.advance(float(body["advance_s"]))
        return 200, {"now": av.iso_ms_z(self.clock.now()), "frozen": self.clock.frozen}

    def _ctl_webhooks_get(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, self.webhooks.state()

    def _ctl_webhooks_add(self, request: Request, body: Any) -> tuple[int, Any]:
        body = body or {}
        sub = self.webhooks.subscribe(
            body.get("url"), body.get("secret"), body.get("triggers"), team_id=body.get("team_id")
        )
        return 201, {k: v for k, v in sub.items() if k != "secret"}

    def _ctl_webhooks_clear(self, request: Request, body: Any) -> tuple[int, Any]:
        self.webhooks.clear(keep_static=True)
        return 200, self.webhooks.state()

    def _ctl_teams_get(self, request: Request, body: Any) -> tuple[int, Any]:
        with self.store.lock:
            return 200, [
                {**team, "members": [m.user_id for m in self.store.sorted_members(team["id"])]}
                for team in self.store.teams.values()
            ]

    def _ctl_teams_add(self, request: Request, body: Any) -> tuple[int, Any]:
        """Another Cal.com team (a salon with its own Cal.com account): its members and its owner's
        API key (Store.add_team)."""
        team = self.store.add_team(body or {})
        return 201, team

    def _ctl_member_upsert(self, request: Request, body: Any, user_id: int | None = None) -> tuple[int, Any]:
        raw = dict(body or {})
        if user_id is not None:
            raw["user_id"] = user_id
        member = self.store.upsert_member(raw)
        return 200, self.store.membership_output(member)

    def _ctl_member_delete(self, request: Request, body: Any, user_id: int) -> tuple[int, Any]:
        try:
            self.store.delete_member(user_id)
        except KeyError:
            return 404, {"error": f"no member with user id {user_id}"}
        return 200, {"deleted": user_id}

    def _ctl_memberships_extra(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            entries = body if isinstance(body, list) else [body]
            if not all(isinstance(entry, dict) for entry in entries):
                raise ValueError("send a membership object or a list of them")
            with self.store.lock:
                self.store.extra_memberships.extend(copy.deepcopy(entries))
        return 200, self.store.extra_memberships

    def _ctl_memberships_extra_clear(self, request: Request, body: Any) -> tuple[int, Any]:
        with self.store.lock:
            self.store.extra_memberships.clear()
        return 200, []

    def _ctl_behaviour(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            with self.store.lock:
                self.store.behaviour.update(body or {})
        return 200, self.store.behaviour.to_dict()

    def _ctl_emails_get(self, request: Request, body: Any) -> tuple[int, Any]:
        uid = request.args.get("booking_uid")
        with self.store.lock:
            return 200, [dict(e) for e in self.store.emails if uid is None or e["booking_uid"] == uid]

    def _ctl_emails_clear(self, request: Request, body: Any) -> tuple[int, Any]:
        with self.store.lock:
            self.store.emails.clear()
        return 200, []

    def _ctl_versions(self, request: Request, body: Any) -> tuple[int, Any]:
        if request.method == "POST":
            self.strict_versions = bool((body or {}).get("strict", True))
        return 200, {"strict": self.strict_versions}


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (tests and the local stack stay readable)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug("werkzeug %s: " + message, type, *args)


class CalcomStandIn:
    """The Cal.com v2 stand-in server.

    ``fixture``: the whole demo fixture (its ``calcom`` section is used), the ``calcom`` section
    itself, or a path to a JSON file. ``port=0`` picks a free port. ``rate_limit`` enables the
    120 requests / 60 s limit per API key. ``strict_versions`` answers a wrong or missing
    ``cal-api-version`` the way Cal.com's routing would (404 / legacy 400) instead of serving it.
    ``webhooks``: subscriptions ``[{"url", "secret"?, "triggers"?}]`` that survive ``reset()``.
    """

    def __init__(
        self,
        fixture: dict[str, Any] | str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: bool = True,
        *,
        rate_limit_per_minute: int = 120,
        strict_versions: bool = True,
        behaviour: dict[str, Any] | None = None,
        webhooks: list[dict[str, Any]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.app = StandInApp(
            load_fixture(fixture),
            rate_limit=rate_limit,
            rate_limit_per_minute=rate_limit_per_minute,
            strict_versions=strict_versions,
            behaviour=behaviour,
            webhooks=webhooks,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def api_key(self) -> str:
        return self.app.store.api_key

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> str:
        if self._server is not None:
            return self.url
        self.app.stopping.clear()
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="calcom-standin",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.app.stopping.set()  # wakes handlers sleeping in latency/timeout faults
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reset(self) -> None:
        self.app.reset()

    def __enter__(self) -> CalcomStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
