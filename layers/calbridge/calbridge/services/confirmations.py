"""One confirmation per appointment and event (docs/adr/0029-confirmations.md).

The booking workflow's Finalize, the cancel's MarkCancelled and the reschedule's SwapAppointment
each put one ConfirmationJob on NotificationsQueue (`queue_confirmation`: one SQS SendMessage,
never failing the step); NotificationsFunction sends it (`Confirmations.send`): one e-mail with
every segment and an ICS file holding them all, when the caller gave an address, and one SMS
when the company enables it and the caller's number is known. Each channel of each (appointment,
event, change) is sent once (adapters/idempotency.py OnceOnly): a redelivered job sends nothing
new, a job whose e-mail went out but whose SMS failed retries only the SMS. A job the appointment
has moved past (a later reschedule, a cancel) sends nothing: the later event sends its own.
A job holds ids only, never personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from calbridge.domain.confirmation_text import (
    Confirmation,
    ConfirmationEvent,
    ConfirmedSegment,
    body,
    sms_text,
    subject,
)
from calbridge.domain.ics import CalendarEntry, Party, build_calendar, segment_uid
from calbridge.errors import NotFound, QueueUnavailable
from calbridge.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from calbridge.adapters.idempotency import OnceOnly
    from calbridge.adapters.notify import Mailer, SmsSender
    from calbridge.adapters.queue import JobQueue
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.adapters.store.models import AppointmentRecord
    from calbridge.adapters.store.repositories import CompanyRepository, StaffRepository

#: How long a sent confirmation is remembered: beyond the queue's 4 days and a redrive from its
#: dead-letter queue (14 days), so no delivery of the job can send it again.
SENT_REMEMBERED_S = 15 * 24 * 3600

Channel = Literal["email", "sms"]


class ConfirmationJob(BaseModel):
    """A NotificationsQueue message."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["confirmation"] = "confirmation"
    company_id: str = Field(min_length=1)
    appointment_id: str = Field(min_length=1)
    event: ConfirmationEvent
    # What makes this event one of its own: the appointment id for its booking, the attempt's
    # booking id for a reschedule (new per reschedule), "cancel" for the cancel (there is one).
    change_id: str = Field(min_length=1)
    # A reschedule's new Cal.com bookings: the job is stale once the appointment has others.
    calcom_booking_uids: list[str] = Field(default_factory=list)

    def once_key(self, channel: Channel) -> dict[str, str]:
        return {
            "confirmation": self.company_id,
            "appointment": self.appointment_id,
            "event": self.event.value,
            "change": self.change_id,
            "channel": channel,
        }


def queue_confirmation(queue: Callable[[], JobQueue] | None, job: ConfirmationJob) -> None:
    """Enqueue the job; an unreachable queue is logged and counted, never raised: a confirmation
    must not fail (or slow down) the booking, cancel or reschedule that made it."""
    if queue is None:
        return
    try:
        queue().send(job)
    except QueueUnavailable:
        metrics.add_metric(name="ConfirmationNotQueued", unit=MetricUnit.Count, value=1)
        logger.warning(
            "confirmation not queued: the notifications queue is unavailable",
            company_id=job.company_id,
            appointment_id=job.appointment_id,
            confirmation_event=job.event.value,
        )


class ConfirmationReport(BaseModel):
    """What one job did per channel: sent (or sent before: the stored message id), skipped, or
    not applicable (no address, SMS off)."""

    email: str | None = None
    sms: str | None = None
    skipped: str | None = None  # why nothing was sent: superseded, gone


def _now() -> datetime:
    return datetime.now(UTC)


class Confirmations:
    def __init__(
        self,
        *,
        records: BookingRecordRepository,
        companies: CompanyRepository,
        staff: StaffRepository,
        mailer: Mailer,
        sms: SmsSender,
        once: OnceOnly,
        sender: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._records = records
        self._companies = companies
        self._staff = staff
        self._mailer = mailer
        self._sms = sms
        self._once = once
        self._sender = sender
        self._clock = clock

    def register_lambda_context(self, context: LambdaContext) -> None:
        """The running invocation: a send it leaves in progress expires with it."""
        self._once.register_lambda_context(context)

    def send(self, job: ConfirmationJob) -> ConfirmationReport:
        try:
            head, segments = self._records.load(job.company_id, job.appointment_id)
        except NotFound:  # erased, or never written: nobody to tell
            return self._skip(job, "gone")
        if not _current(job, head):
            return self._skip(job, "superseded")
        company = self._companies.get(job.company_id)
        confirmation = self._confirmation(job, head, segments, company.name, company.language)
        report = ConfirmationReport()
        if head.customer_email:
            report.email = self._once_per_channel(job, "email", lambda: self._mail(job, head, confirmation))
        if company.sms_confirmations and head.customer_phone:
            phone, text = head.customer_phone, sms_text(confirmation)
            report.sms = self._once_per_channel(job, "sms", lambda: self._sms.send(phone, text))
        logger.info(
            "confirmation handled",
            company_id=job.company_id,
            appointment_id=job.appointment_id,
            confirmation_event=job.event.value,
            email=bool(report.email),
            sms=bool(report.sms),
        )
        return report

    def _skip(self, job: ConfirmationJob, why: str) -> ConfirmationReport:
        metrics.add_metric(name="ConfirmationSkipped", unit=MetricUnit.Count, value=1)
        logger.info(
            "confirmation not sent",
            reason=why,
            company_id=job.company_id,
            appointment_id=job.appointment_id,
            confirmation_event=job.event.value,
        )
        return ConfirmationReport(skipped=why)

    def _once_per_channel(self, job: ConfirmationJob, channel: Channel, send: Callable[[], str]) -> str:
        def action() -> tuple[dict[str, str], bool]:
            message_id = send()
            metrics.add_metric(
                name="ConfirmationEmailSent" if channel == "email" else "ConfirmationSmsSent",
                unit=MetricUnit.Count,
                value=1,
            )
            return {"message_id": message_id}, True

        return str(self._once.run(job.once_key(channel), action)["message_id"])

    def _confirmation(
        self,
        job: ConfirmationJob,
        head: AppointmentRecord,
        segments: list[AppointmentRecord],
        salon: str,
        language: Literal["de", "en"],
    ) -> Confirmation:
        names: dict[str, str | None] = {}
        confirmed = []
        for segment in sorted(segments, key=lambda s: s.starts_at or datetime.min.replace(tzinfo=UTC)):
            staff_id = segment.staff_id or head.staff_id
            if staff_id not in names:
                names[staff_id] = self._staff_name(job.company_id, staff_id)
            if segment.starts_at is None or segment.ends_at is None:
                continue
            confirmed.append(
                ConfirmedSegment(
                    key=segment.segment_key or segment.appointment_id.rsplit("#", 1)[-1],
                    name=segment.segment_name or head.service_name or "",
                    start=segment.starts_at,
                    end=segment.ends_at,
                    staff_name=names[staff_id],
                )
            )
        if not confirmed and head.starts_at and head.ends_at:  # an appointment of one hold, no segments
            confirmed.append(
                ConfirmedSegment(
                    key="main",
                    name=head.service_name or "",
                    start=head.starts_at,
                    end=head.ends_at,
                    staff_name=self._staff_name(job.company_id, head.staff_id),
                )
            )
        return Confirmation(
            event=job.event,
            language=language,
            salon_name=salon,
            service_name=head.service_name or "",
            customer_name=head.customer_name or "",
            confirmation_code=head.confirmation_code or "",
            timezone=head.timezone or "UTC",
            segments=confirmed,
        )

    def _staff_name(self, company_id: str, staff_id: str | None) -> str | None:
        if not staff_id:
            return None
        try:
            return self._staff.get(company_id, staff_id).name
        except NotFound:  # removed since: the segment is named without them
            return None

    def _mail(self, job: ConfirmationJob, head: AppointmentRecord, confirmation: Confirmation) -> str:
        from calbridge.adapters.notify import mime_message

        method = "CANCEL" if job.event == ConfirmationEvent.CANCELLED else "REQUEST"
        sequence = int(head.reschedule_count or 0) + (1 if method == "CANCEL" else 0)
        organizer = Party(name=confirmation.salon_name, email=self._sender)
        attendee = Party(name=confirmation.customer_name, email=str(head.customer_email))
        calendar = build_calendar(
            method,
            calendar_entries(job.appointment_id, confirmation),
            sequence=sequence,
            organizer=organizer,
            attendee=attendee,
            stamp=self._clock(),
        )
        raw = mime_message(
            sender=self._sender,
            sender_name=confirmation.salon_name,
            recipient=attendee.email,
            recipient_name=attendee.name,
            subject=subject(confirmation),
            text=body(confirmation),
            calendar=calendar,
            calendar_method=method,
            calendar_filename="termin.ics" if confirmation.language == "de" else "appointment.ics",
        )
        return self._mailer.send_raw(self._sender, raw)


def calendar_entries(appointment_id: str, confirmation: Confirmation) -> list[CalendarEntry]:
    """One entry per segment: '<service> – <segment>' (a simple service: its name) with the staff
    member, the code in the description, the salon as the location."""
    lang = confirmation.language
    code_label = "Bestätigungscode" if lang == "de" else "Confirmation code"
    entries = []
    for segment in confirmation.segments:
        title = confirmation.service_name
        if segment.name and segment.name != confirmation.service_name:
            title = f"{title} – {segment.name}"
        if segment.staff_name:
            title = f"{title} ({segment.staff_name})"
        entries.append(
            CalendarEntry(
                uid=segment_uid(appointment_id, segment.key),
                start=segment.start,
                end=segment.end,
                summary=title,
                description=f"{code_label}: {confirmation.confirmation_code}",
                location=confirmation.salon_name,
            )
        )
    return entries


def _current(job: ConfirmationJob, head: AppointmentRecord) -> bool:
    """Whether the appointment still is what the job announces (else a later job tells)."""
    from calbridge.adapters.store.bookings import stored_uids

    if job.event == ConfirmationEvent.CANCELLED:
        return head.status == "cancelled"
    if head.status != "booked":
        return False
    if job.event == ConfirmationEvent.BOOKED:
        return not head.reschedule_count
    return set(stored_uids(head).values()) == set(job.calcom_booking_uids)
