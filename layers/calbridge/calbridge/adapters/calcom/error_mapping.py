"""The one place where Cal.com failures become calbridge's domain exceptions.

| What happened                                                        | Raised              |
|----------------------------------------------------------------------|---------------------|
| 409 anywhere; on booking create / reschedule a 400 whose message is  | SlotUnavailable     |
| one of Cal.com's "this time cannot be booked" texts (SLOT_MESSAGES)  |                     |
| 400 from Cal.com's validation pipes (a property missing, forbidden   | CalcomContractError |
| or wrong: "<prop> property is wrong,...", "Bad Request Exception"    |                     |
| with validation errors, "Body is required")                          |                     |
| 429                                                                  | RateLimited         |
| 5xx, 3xx, timeout, connection or protocol error                      | CalcomUnavailable   |
| any other 4xx, or a 2xx whose body says status=error                 | CalcomRejected      |

A 400 is "slot taken" only when Cal.com says so: a malformed request answered as "taken" would have
every caller hear that their time is gone while nothing could ever be booked.

Messages are Cal.com's own (`error.message`, else `message`, else the start of the body), so they
are safe to show and never contain the API key: the request and its headers are never formatted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from calbridge.errors import (
    CalcomContractError,
    CalcomError,
    CalcomRejected,
    CalcomUnavailable,
    RateLimited,
    SlotUnavailable,
)

DEFAULT_RETRY_AFTER_S = 60.0
"""Cal.com's throttling window; used when a 429 carries no usable reset header."""

_EPOCH_THRESHOLD = 1e9  # a reset value above this is a Unix timestamp, below it a delta in seconds
_BODY_EXCERPT_CHARS = 200

#: Cal.com's texts (message or error.code) for "this time cannot be booked": the API's mapping of
#: the booking errors (apps/api/v2/src/ee/bookings/2024-08-13/services/errors.service.ts and the
#: ErrorCode enum of packages/lib/errorCodes.ts), matched case-insensitively within the text.
SLOT_MESSAGES = (
    "already has booking at this time or is not available",  # no_available_users_found_error
    "no_available_users_found",
    'can\'t be booked at the "start" time',  # booking_time_out_of_bounds_error (notice, window)
    "booking_time_out_of_bounds",
    "attempting to book a meeting in the past",
    "booking_conflict",
    "no more seats left",
    "booker_limit_exceeded",
    "booking limit",
)
#: What Cal.com's validation pipes answer (versioned pipes: "<prop> property is wrong,<rule> ";
#: the global ValidationPipe: "Bad Request Exception" with details.errors; a missing body).
CONTRACT_MESSAGES = ("property is wrong", "should not exist", "body is required")


def to_calcom_error(failure: httpx.Response | httpx.RequestError, *, books_slot: bool = False) -> CalcomError:
    """The domain exception for a failed exchange.

    `books_slot` marks booking create and reschedule, where Cal.com answers a taken slot with 400
    (older code) or 409 (newer code).
    """
    if isinstance(failure, httpx.TimeoutException):
        return CalcomUnavailable(f"Cal.com did not answer in time ({type(failure).__name__})")
    if isinstance(failure, httpx.RequestError):
        return CalcomUnavailable(f"Cal.com could not be reached ({type(failure).__name__})")

    status = failure.status_code
    body = json_or_none(failure)
    message, code = _message_and_code(failure, body)
    if status == 429:
        return RateLimited(
            message, retry_after_s=retry_after_s(failure.headers), status_code=status, code=code
        )
    if not (200 <= status < 300 or 400 <= status < 500):  # 5xx, or a redirect we do not follow
        return CalcomUnavailable(message, status_code=status, code=code)
    said = f"{message} {code or ''}".lower()
    if status == 409 or (status == 400 and books_slot and any(text in said for text in SLOT_MESSAGES)):
        return SlotUnavailable(message, status_code=status, code=code)
    if status == 400 and (_is_validation_failure(body) or any(text in said for text in CONTRACT_MESSAGES)):
        return CalcomContractError(message, status_code=status, code=code)
    return CalcomRejected(message, status_code=status, code=code)


def _is_validation_failure(body: object) -> bool:
    """The global ValidationPipe's answer: BadRequestException({errors}) -> details.errors."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return isinstance(details, dict) and isinstance(details.get("errors"), list)


def is_error_body(body: object) -> bool:
    """Cal.com's envelope says `"status": "error"` (seen even on 2xx answers)."""
    return isinstance(body, dict) and body.get("status") == "error"


def json_or_none(response: httpx.Response) -> object:
    """The decoded JSON body, or None for an empty, HTML or otherwise non-JSON body."""
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return None


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds until the rate-limit window resets, from `X-RateLimit-Reset-*` (§1.3).

    `-Default` wins; otherwise the longest of any other named limit. Cal.com's throttler sends
    seconds remaining while third-party docs describe epoch seconds, so both are accepted.
    """
    resets = {
        name.lower(): value
        for name, value in headers.items()
        if name.lower().startswith("x-ratelimit-reset-")
    }
    candidates = (
        [resets["x-ratelimit-reset-default"]] if "x-ratelimit-reset-default" in resets else resets.values()
    )
    delays = [delay for value in candidates if (delay := _delay_s(value, now)) is not None]
    return max(delays) if delays else DEFAULT_RETRY_AFTER_S


def _delay_s(value: str, now: float | None) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if number > _EPOCH_THRESHOLD:
        number -= time.time() if now is None else now
    return max(number, 0.0)


def _message_and_code(response: httpx.Response, body: object) -> tuple[str, str | None]:
    """Cal.com's envelope `{"error": {code, message}}`, a raw Nest body, or the body text itself."""
    message: str | None = None
    code: str | None = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message, code = _text(error.get("message")), _text(error.get("code"))
        message = message or _text(body.get("message")) or _text(error)
    return message or _excerpt(response) or f"HTTP {response.status_code}", code


def _text(value: object) -> str | None:
    """A readable string for a message field; Nest validation errors send a list of messages."""
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    return str(value).strip() or None


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= _BODY_EXCERPT_CHARS else text[:_BODY_EXCERPT_CHARS] + "…"
