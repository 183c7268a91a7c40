"""Domain exceptions.

Adapters translate I/O failures into these; handlers map them to responses in one place.
Every exception carries a message that is safe to show a caller (no secrets, no stack).
"""

from __future__ import annotations


class CalbridgeError(Exception):
    """Base of every error calbridge raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- request and tenant errors -------------------------------------------------


class InvalidRequest(CalbridgeError):
    """The request is malformed: bad JSON, a missing field or a field of the wrong type."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BodyTooLarge(InvalidRequest):
    """The request body is larger than the route accepts."""


class SignatureInvalid(CalbridgeError):
    """A webhook signature is missing, malformed, stale or does not match the raw body."""


class UnknownCompany(CalbridgeError):
    """No company matches the tenant id or dialled number."""


class NotFound(CalbridgeError):
    """A tenant-scoped entity (service, staff member, appointment) does not exist."""


class PhoneNumberTaken(CalbridgeError):
    """A phone number already routes to another company."""


class MappingConflict(CalbridgeError):
    """A conditional mapping write lost: someone else created or changed the mapping first."""


class StoreUnavailable(CalbridgeError):
    """DynamoDB could not be reached or refused the request."""


class InvalidConfiguration(CalbridgeError):
    """Environment or stored configuration is unusable; raised at start-up, never per request."""


# --- Cal.com errors ------------------------------------------------------------


class CalcomError(CalbridgeError):
    """Base of errors from the Cal.com API."""

    def __init__(self, message: str, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class SlotUnavailable(CalcomError):
    """Cal.com refused a booking because the slot is taken or not bookable (400/409)."""


class RateLimited(CalcomError):
    """Cal.com answered 429; `retry_after_s` says when the window resets."""

    def __init__(
        self, message: str, retry_after_s: float, status_code: int = 429, code: str | None = None
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after_s = retry_after_s


class CalcomUnavailable(CalcomError):
    """Cal.com could not be reached or failed on its side (5xx, timeout, connection error)."""


class CalcomRejected(CalcomError):
    """Cal.com rejected the request (any other 4xx); the message is Cal.com's own."""
