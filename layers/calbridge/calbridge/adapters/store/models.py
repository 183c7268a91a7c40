"""PynamoDB models: one table per aggregate, every key led by company_id (docs/adr/0002-tables.md).

Table names come from the validated settings, so the models can be imported only where the
environment is configured (every handler, the local stack, the tests' conftest).
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from calbridge.config import get_settings

_settings = get_settings()


class _Meta:
    # Fail fast inside a Lambda's 10 s budget rather than retrying for a minute.
    max_retry_attempts = 2
    connect_timeout_seconds = 2
    read_timeout_seconds = 5


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
    calcom_team_id = NumberAttribute(null=True)
    branches = ListAttribute(of=BranchAttribute, default=list)
    host_match_threshold = NumberAttribute(default=75)
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
