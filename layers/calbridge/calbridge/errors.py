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


class UnknownBranch(NotFound):
    """The company has no branch of that id."""


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


class CalcomCircuitOpen(CalcomUnavailable):
    """Cal.com's circuit breaker is open (it failed 5 times within 60 s): the call was not sent.
    `retry_after_s` says when a probe may go out. Its own name in Step Functions, so a Retry on
    CalcomUnavailable does not wait on an open breaker (docs/adr/0022-calcom-circuit-breaker.md)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CalcomPaced(RateLimited):
    """Our own pacing of Cal.com's per-key rate limit had no permit in time: the call was not sent
    (docs/adr/0027-calcom-rate-limit-shared.md). A RateLimited, so callers treat it as Cal.com's
    429 (`retry_after_s`: when a permit is due); the breaker does not count it as a failure."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        CalcomError.__init__(self, message)
        self.retry_after_s = retry_after_s


class CalcomRejected(CalcomError):
    """Cal.com rejected the request (any other 4xx); the message is Cal.com's own."""


class CalcomContractError(CalcomRejected):
    """Cal.com refused the request itself as malformed (its validation pipes: a property missing,
    forbidden or of the wrong kind): a bug on our side, never a taken slot. Logged at error level
    with Cal.com's message and counted (`CalcomContractError`)."""


# --- booking workflow errors ----------------------------------------------------
# The class name is the error name the booking state machine's Retry/Catch and its caller see
# (statemachines/booking.asl.json, services/booking.py); keep names stable.


class UnknownService(NotFound):
    """The service to book does not exist in the company, or is no longer offered."""


class UnknownStaff(NotFound):
    """The staff member to book does not exist in the company."""


class StaffNotBookable(CalbridgeError):
    """The staff member cannot be booked: inactive, no Cal.com user, or not performing the service."""


class EventTypeMissing(CalbridgeError):
    """A hold of the plan has no usable Cal.com event type (service or segment not provisioned)."""


class LeaseBusy(CalbridgeError):
    """Another booking holds the staff member's slot lease for that day; try again shortly."""


class ReservationFailed(CalbridgeError):
    """At least one hold could not be reserved in Cal.com for another reason than a taken slot."""


class StaffMismatch(CalbridgeError):
    """Cal.com gave a hold to another host than the staff member that was asked for."""


class AppointmentConflict(CalbridgeError):
    """An appointment with this booking id exists already, and not from this booking attempt."""


class AppointmentNotActive(CalbridgeError):
    """The appointment cannot be changed: it is cancelled (or its cancellation failed halfway)."""


class CancellationFailed(CalbridgeError):
    """Some of an appointment's Cal.com bookings could not be cancelled; the appointment is marked
    `cancel_failed` with their uids (cancel it again once Cal.com answers)."""


class WorkflowUnavailable(CalbridgeError):
    """The booking state machine could not be started or did not finish in time."""


class AttemptStillRunning(WorkflowUnavailable):
    """A booking workflow a pending request waits for has not recorded its outcome yet; look
    again after `retry_after_s` (docs/adr/0026-tool-call-budget.md)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# --- team sync --------------------------------------------------------------------


class DeadlineExceeded(CalbridgeError):
    """A job ran out of its time budget (e.g. Cal.com's rate limit resets after the deadline).

    Deliberately not a CalcomError: code that records a Cal.com failure per item (the event type
    provisioner) must not record "failed" items for what is only our own time running out."""


# --- team sync errors -------------------------------------------------------------


class QueueUnavailable(StoreUnavailable):
    """SQS could not be reached or refused the request (the team sync's job queue)."""


class NoCalcomTeam(CalbridgeError):
    """The company has no Cal.com team id, so there is nothing to sync."""


# --- confirmations (docs/adr/0029-confirmations.md) -------------------------------


class ConfirmationNotSent(CalbridgeError):
    """SES or SNS did not take a confirmation (refused or unreachable); its job is retried."""
