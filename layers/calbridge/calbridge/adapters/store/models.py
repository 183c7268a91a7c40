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
    calcom_event_type_id = NumberAttribute(null=True)
    staff_ids = ListAttribute(of=UnicodeAttribute, default=list)
    active = BooleanAttribute(default=True)
    updated_at = UTCDateTimeAttribute()
