"""PynamoDB models: one table per aggregate, every key led by company_id (docs/adr/0002-tables.md).

Table names come from the validated settings, so the models can be imported only where the
environment is configured (every handler, the local stack, the tests' conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from calbridge.config import get_settings
from calbridge.errors import StoreUnavailable


def condition_failed(exc: Exception) -> bool:
    """True when DynamoDB refused a conditional write: the expected "somebody else was first"."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def conditional_write(write: Callable[[], object], *, unavailable: str) -> bool:
    """Run one conditional write: True when it was written, False when DynamoDB refused its
    condition; any other failure is StoreUnavailable(`unavailable`)."""
    try:
        write()
    except PynamoDBException as exc:
        if condition_failed(exc):
            return False
        raise StoreUnavailable(unavailable) from exc
    return True


_settings = get_settings()


class _Meta:
    # Fail fast inside a Lambda's 10 s budget rather than retrying for a minute.
    max_retry_attempts = 2
    connect_timeout_seconds = 2
    read_timeout_seconds = 5


@cache
def transaction_connection() -> Connection:
    """The connection every TransactWrite uses, one per container like the models' own. A new
    `Connection()` per transaction builds a new botocore session and client, which loads
    botocore's endpoint and service model files again: tens of milliseconds per transaction."""
    return Connection(
        max_retry_attempts=_Meta.max_retry_attempts,
        connect_timeout_seconds=_Meta.connect_timeout_seconds,
        read_timeout_seconds=_Meta.read_timeout_seconds,
    )


class BranchAttribute(MapAttribute):
    branch_id = UnicodeAttribute()
    name = UnicodeAttribute()
    phone_numbers = ListAttribute(of=UnicodeAttribute, default=list)


class CompanyRecord(Model):
    class Meta(_Meta):
        table_name = _settings.companies_table

    company_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    language = UnicodeAttribute(default="de")
    country = UnicodeAttribute(null=True)
    calcom_team_id = NumberAttribute(null=True)
    branches = ListAttribute(of=BranchAttribute, default=list)
    host_match_threshold = NumberAttribute(default=75)
    booking_window_days = NumberAttribute(default=60)
    minimum_notice_minutes = NumberAttribute(default=120)
    opening_hours = MapAttribute(null=True)  # OpeningHours as JSON: {"weekly": {"0": [["09:00:00", …]]}}
    sync_repair_drift = BooleanAttribute(default=False)
    retell_agent_ids = ListAttribute(of=UnicodeAttribute, default=list)  # routed in AgentRouteRecord
    active = BooleanAttribute(default=True)
    call_retention_days = NumberAttribute(default=90)
    appointment_retention_days = NumberAttribute(default=365)
    sms_confirmations = BooleanAttribute(default=False)
    calcom_credential = UnicodeAttribute(default="platform")
    updated_at = UTCDateTimeAttribute()


class PhoneByCompanyIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_company"
        projection = AllProjection()

    company_id = UnicodeAttribute(hash_key=True)
    phone_number = UnicodeAttribute(range_key=True)


class PhoneRouteRecord(Model):
    class Meta(_Meta):
        table_name = _settings.phone_numbers_table

    phone_number = UnicodeAttribute(hash_key=True)
    company_id = UnicodeAttribute()
    branch_id = UnicodeAttribute()
    by_company = PhoneByCompanyIndex()


# Agent routes share the routing table with the phone numbers (docs/adr/0015-tenant-of-a-call.md):
# their key is AGENT_ROUTE_PREFIX + the Retell agent id, which no E.164 number ("+…") can equal,
# and the by_company index lists both kinds of a company's routes.
AGENT_ROUTE_PREFIX = "agent#"


class AgentRouteRecord(Model):
    """A Retell agent id and the company it answers for (a call without our inbound metadata)."""

    class Meta(_Meta):
        table_name = _settings.phone_numbers_table

    route_key = UnicodeAttribute(hash_key=True, attr_name="phone_number")  # "agent#<agent id>"
    company_id = UnicodeAttribute()


class StaffRecord(Model):
    class Meta(_Meta):
        table_name = _settings.staff_table

    company_id = UnicodeAttribute(hash_key=True)
    staff_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    other_emails = ListAttribute(of=UnicodeAttribute, default=list)
    calcom_user_id = NumberAttribute(null=True)
    calcom_username = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    updated_at = UTCDateTimeAttribute()


class SegmentAttribute(MapAttribute):
    key = UnicodeAttribute()
    name = UnicodeAttribute()
    duration = NumberAttribute()
    gap_after = NumberAttribute(default=0)


class ServiceRecord(Model):
    class Meta(_Meta):
        table_name = _settings.services_table

    company_id = UnicodeAttribute(hash_key=True)
    service_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    duration = NumberAttribute()
    price_cents = NumberAttribute(null=True)
    currency = UnicodeAttribute(default="EUR")
    composite = BooleanAttribute(default=False)
    segments = ListAttribute(of=SegmentAttribute, default=list)
    pause_policy = UnicodeAttribute(default="free")
    max_gap_stretch = NumberAttribute(default=0)
    calcom_event_type_id = NumberAttribute(null=True)
    staff_ids = ListAttribute(of=UnicodeAttribute, default=list)
    active = BooleanAttribute(default=True)
    updated_at = UTCDateTimeAttribute()


class HostMappingRecord(Model):
    """A host mapping (mapping_key host#<id>) or an admin's rule (rule#email#... / rule#username#...)."""

    class Meta(_Meta):
        table_name = _settings.host_mappings_table

    company_id = UnicodeAttribute(hash_key=True)
    mapping_key = UnicodeAttribute(range_key=True)
    host_id = NumberAttribute(null=True)
    staff_id = UnicodeAttribute()
    calcom_name = UnicodeAttribute(null=True)
    calcom_email = UnicodeAttribute(null=True)
    calcom_username = UnicodeAttribute(null=True)
    calcom_time_zone = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    confidence = NumberAttribute(null=True)
    last_synced_at = UTCDateTimeAttribute(null=True)
    is_active = BooleanAttribute(default=True)
    metadata = MapAttribute(default=dict)
    version = NumberAttribute(default=1)
    # rules only
    match_on = UnicodeAttribute(null=True)
    value = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class MappingAuditRecord(Model):
    class Meta(_Meta):
        table_name = _settings.mapping_audits_table

    company_id = UnicodeAttribute(hash_key=True)
    audit_key = UnicodeAttribute(range_key=True)  # <mapping_key>#<changed_at iso>#<audit_id>
    mapping_key = UnicodeAttribute()
    audit_id = UnicodeAttribute()
    action = UnicodeAttribute()
    old_values = MapAttribute(null=True)
    new_values = MapAttribute(null=True)
    changed_by = UnicodeAttribute()
    changed_at = UTCDateTimeAttribute()
    reason = UnicodeAttribute()


class HostReviewRecord(Model):
    class Meta(_Meta):
        table_name = _settings.host_reviews_table

    company_id = UnicodeAttribute(hash_key=True)
    host_key = UnicodeAttribute(range_key=True)
    host = MapAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute(default="open")
    candidates = ListAttribute(of=MapAttribute, default=list)
    reason = UnicodeAttribute()
    seen_count = NumberAttribute(default=1)
    first_seen = UTCDateTimeAttribute()
    last_seen = UTCDateTimeAttribute()


class AppointmentsByCustomerPhoneIndex(GlobalSecondaryIndex):
    """A caller's appointments by start: `customer_key` is "<company_id>#<E.164 phone>", so one
    company's customers are never found by another. Sparse: only appointment items carry it."""

    class Meta:
        index_name = "by_customer_phone"
        projection = AllProjection()

    customer_key = UnicodeAttribute(hash_key=True)
    starts_at = UTCDateTimeAttribute(range_key=True)


class AppointmentsByStartIndex(GlobalSecondaryIndex):
    """A company's appointment, segment and failed-attempt items by start: the admin API reads a
    local day with one query (docs/adr/0031-reading-appointments-and-calls.md)."""

    class Meta:
        index_name = "by_start"
        projection = AllProjection()

    company_id = UnicodeAttribute(hash_key=True)
    starts_at = UTCDateTimeAttribute(range_key=True)


class AppointmentRecord(Model):
    class Meta(_Meta):
        table_name = _settings.appointments_table

    company_id = UnicodeAttribute(hash_key=True)
    appointment_id = UnicodeAttribute(range_key=True)
    service_id = UnicodeAttribute(null=True)
    calcom_booking_uid = UnicodeAttribute(null=True)
    starts_at = UTCDateTimeAttribute(null=True)
    ends_at = UTCDateTimeAttribute(null=True)
    staff_id = UnicodeAttribute(null=True)
    calcom_host_id = NumberAttribute(null=True)
    staff_source = UnicodeAttribute(null=True)
    staff_confidence = NumberAttribute(null=True)
    staff_reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    # Written by the booking workflow (adapters/store/bookings.py, docs/adr/0006-booking-saga.md):
    # an appointment (appointment_id <booking_id>), one item per segment (<booking_id>#<segment
    # key>) and its confirmation code (code#<code>) share this table; `kind` tells them apart.
    kind = UnicodeAttribute(null=True)  # appointment | segment | confirmation_code
    status = UnicodeAttribute(null=True)  # booked | failed | cancelled | cancel_failed
    parent_id = UnicodeAttribute(null=True)  # a segment's or code's appointment id
    segment_key = UnicodeAttribute(null=True)
    segment_name = UnicodeAttribute(null=True)
    hold_key = UnicodeAttribute(null=True)  # the Cal.com booking (hold) that covers the segment
    composite_group_uid = UnicodeAttribute(null=True)
    confirmation_code = UnicodeAttribute(null=True)
    service_name = UnicodeAttribute(null=True)
    pause_policy = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    calcom_booking_id = NumberAttribute(null=True)
    calcom_event_type_id = NumberAttribute(null=True)
    calcom_booking_uids = MapAttribute(null=True)  # hold key -> Cal.com uid (segments and gaps)
    customer_name = UnicodeAttribute(null=True)
    customer_email = UnicodeAttribute(null=True)
    customer_phone = UnicodeAttribute(null=True)
    call_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)  # failed attempts: the workflow's error name ...
    error_cause = UnicodeAttribute(null=True)  # ... and its message
    # failed attempts whose Cal.com cancels had to wait (ADR 0024): deferred, then compensated
    compensation = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    # Cancel and reschedule (services/appointment_changes.py, docs/adr/0007-appointment-changes.md).
    cancel_reason = UnicodeAttribute(null=True)
    cancelled_at = UTCDateTimeAttribute(null=True)
    # status cancel_failed: the uids Cal.com kept; status booked: old uids of its last reschedule
    # still to be cancelled by the compensation worker (ADR 0024)
    failed_cancel_uids = ListAttribute(of=UnicodeAttribute, null=True)
    rescheduled_at = UTCDateTimeAttribute(null=True)
    reschedule_count = NumberAttribute(null=True)
    replaced_calcom_booking_uids = MapAttribute(null=True)  # the last reschedule's old uids
    # The slot-cache entries the appointment's holds fall in: a cancel or reschedule drops them.
    slot_cache_keys = ListAttribute(of=UnicodeAttribute, null=True)
    # The cancel and reschedule tools find a caller's appointments by phone (docs/adr/0008-tool-calls.md).
    customer_key = UnicodeAttribute(null=True)  # appointment items with a phone: <company_id>#<E.164>
    by_customer_phone = AppointmentsByCustomerPhoneIndex()
    # Epoch seconds: DynamoDB's TTL attribute, end + the company's appointment retention (ADR 0028).
    expires_at = NumberAttribute(null=True)
    by_start = AppointmentsByStartIndex()


class LeaseRecord(Model):
    """A slot lease (lease_key <staff_id>#<local date>): one booking at a time per staff member and day.

    Taken with a conditional put (free, expired or already ours), released with a delete
    conditioned on the owner; `expires_at` (epoch seconds) is also the table's TTL attribute.
    """

    class Meta(_Meta):
        table_name = _settings.leases_table

    company_id = UnicodeAttribute(hash_key=True)
    lease_key = UnicodeAttribute(range_key=True)
    owner = UnicodeAttribute()
    expires_at = NumberAttribute()
    acquired_at = UTCDateTimeAttribute()


class EventMapRecord(Model):
    """A hold of a service for one Cal.com user -> its event type (map_key <service>#<hold>#<user>;
    <service>#<hold> for the shared event types of before ADR 0013)."""

    class Meta(_Meta):
        table_name = _settings.event_map_table

    company_id = UnicodeAttribute(hash_key=True)
    map_key = UnicodeAttribute(range_key=True)
    service_id = UnicodeAttribute()
    segment_key = UnicodeAttribute()
    host_user_id = NumberAttribute(null=True)
    staff_id = UnicodeAttribute(null=True)
    event_type_id = NumberAttribute(null=True)
    slug = UnicodeAttribute()
    title = UnicodeAttribute()
    length = NumberAttribute()
    minimum_notice = NumberAttribute(null=True)
    slot_interval = NumberAttribute(null=True)
    sync_status = UnicodeAttribute()
    detail = UnicodeAttribute(default="")
    updated_at = UTCDateTimeAttribute()


class SlotCacheRecord(Model):
    """Cal.com slot starts of one event type for one staff member on one local day."""

    class Meta(_Meta):
        table_name = _settings.slot_cache_table

    cache_key = UnicodeAttribute(hash_key=True)  # <company>#<event type>#<user>#<day>
    starts = ListAttribute(of=UnicodeAttribute, default=list)  # UTC ISO instants
    expires_at = NumberAttribute()  # epoch seconds: DynamoDB's TTL attribute, and checked on read


class CallAppointmentAttribute(MapAttribute):
    appointment_id = UnicodeAttribute()
    action = UnicodeAttribute()  # booked | cancelled | rescheduled
    at = UTCDateTimeAttribute()
    change_of = UnicodeAttribute(null=True)  # fingerprint of the tool call that made the change


class CallsByCreatedIndex(GlobalSecondaryIndex):
    """A company's call records by when the first write about them came (every write sets
    `created_at` if absent, so every record has it): the admin API reads a local day with one query."""

    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    company_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class CallRecord(Model):
    """One Retell call of a company, from its lifecycle webhooks and the tools (adapters/store/calls.py).

    Every write is one conditional UpdateItem: `events` holds the lifecycle events applied so far
    (a redelivered one fails the condition), and the status is derived from it when read.
    """

    class Meta(_Meta):
        table_name = _settings.calls_table

    company_id = UnicodeAttribute(hash_key=True)
    call_id = UnicodeAttribute(range_key=True)
    events = UnicodeSetAttribute(null=True)  # call_started | call_ended | call_analyzed
    branch_id = UnicodeAttribute(null=True)
    agent_id = UnicodeAttribute(null=True)
    direction = UnicodeAttribute(null=True)
    from_number = UnicodeAttribute(null=True)  # E.164
    to_number = UnicodeAttribute(null=True)  # E.164
    started_at = UTCDateTimeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    duration_ms = NumberAttribute(null=True)
    disconnection_reason = UnicodeAttribute(null=True)
    summary = UnicodeAttribute(null=True)
    user_sentiment = UnicodeAttribute(null=True)
    call_successful = BooleanAttribute(null=True)
    in_voicemail = BooleanAttribute(null=True)
    appointments = ListAttribute(of=CallAppointmentAttribute, null=True)
    appointment_keys = UnicodeSetAttribute(null=True)  # <appointment_id>#<action> noted so far
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # Epoch seconds: DynamoDB's TTL attribute, last event + the company's call retention (ADR 0028).
    expires_at = NumberAttribute(null=True)
    by_created = CallsByCreatedIndex()


class SyncRunRecord(Model):
    """One team sync run of a company (run_key <started_at>#<run_id>): its report, kept until TTL.

    The report (domain/sync.py SyncReport, lists capped: adapters/store/sync_runs.py) is stored as
    JSON as the sync produced it; status, trigger and times are top-level attributes to read at a
    glance.
    """

    class Meta(_Meta):
        table_name = _settings.sync_runs_table

    company_id = UnicodeAttribute(hash_key=True)
    run_key = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute()
    status = UnicodeAttribute()
    trigger = UnicodeAttribute()
    job_id = UnicodeAttribute(null=True)  # the SQS message id, when the run came from the queue
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    report = JSONAttribute()
    expires_at = NumberAttribute()  # epoch seconds: DynamoDB's TTL attribute


class TeamMemberRecord(Model):
    """A Cal.com team member as the team sync last saw it (item_key member#<user id>).

    Shares TeamMembersTable with `TeamEventTypeRecord` (item_key event_type#<id>); each kind is
    read with one query on its key prefix (adapters/store/team.py).
    """

    class Meta(_Meta):
        table_name = _settings.team_members_table

    company_id = UnicodeAttribute(hash_key=True)
    item_key = UnicodeAttribute(range_key=True)
    user_id = NumberAttribute()
    membership_id = NumberAttribute(null=True)
    email = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    username = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    accepted = BooleanAttribute(default=False)
    is_active = BooleanAttribute(default=True)
    first_seen_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    deactivated_at = UTCDateTimeAttribute(null=True)


class EventTypeHostAttribute(MapAttribute):
    user_id = NumberAttribute()
    name = UnicodeAttribute(null=True)
    username = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)


class TeamEventTypeRecord(Model):
    """A team event type with its hosts and the service it became (item_key event_type#<id>)."""

    class Meta(_Meta):
        table_name = _settings.team_members_table

    company_id = UnicodeAttribute(hash_key=True)
    item_key = UnicodeAttribute(range_key=True)
    event_type_id = NumberAttribute()
    title = UnicodeAttribute()
    slug = UnicodeAttribute()
    length = NumberAttribute(null=True)
    hidden = BooleanAttribute(default=False)
    scheduling_type = UnicodeAttribute(null=True)
    hosts = ListAttribute(of=EventTypeHostAttribute, default=list)
    service_id = UnicodeAttribute(null=True)
    is_active = BooleanAttribute(default=True)
    updated_at = UTCDateTimeAttribute()
