"""Builds the services from the production adapters once per container (handlers import this)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from calbridge.adapters.store.host_mappings import (
    AppointmentRepository,
    HostMappingRepository,
    HostReviewRepository,
)
from calbridge.adapters.store.repositories import CompanyRepository, StaffRepository
from calbridge.config import get_settings
from calbridge.services.host_resolution import HostResolver

if TYPE_CHECKING:
    from calbridge.adapters.calcom import CalcomClient
    from calbridge.services.appointment_changes import AppointmentChanges
    from calbridge.services.availability import AvailabilityService
    from calbridge.services.booking import BookingSaga
    from calbridge.services.event_types import EventTypeProvisioner


@cache
def host_resolver() -> HostResolver:
    return HostResolver(
        CompanyRepository(),
        StaffRepository(),
        HostMappingRepository(),
        HostReviewRepository(),
        AppointmentRepository(),
        cache_ttl_s=get_settings().directory_cache_s,
    )


# The Cal.com pieces are imported on first use: handlers that never call Cal.com (host
# resolution) keep httpx out of their cold start.


@cache
def calcom_client() -> CalcomClient:
    """One pooled Cal.com client per container; the API key is read (and cached) per request."""
    from calbridge.adapters.calcom import CalcomClient
    from calbridge.adapters.secrets import get_secret

    settings = get_settings()
    return CalcomClient.from_settings(
        settings, lambda: get_secret(settings.calcom_api_key_secret, settings.secret_cache_s)
    )


@cache
def event_type_provisioner() -> EventTypeProvisioner:
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.repositories import ServiceRepository
    from calbridge.services.event_types import EventTypeProvisioner

    return EventTypeProvisioner(
        calcom_client(),
        ServiceRepository(),
        StaffRepository(),
        HostMappingRepository(),
        EventMapRepository(),
        companies=CompanyRepository(),
    )


@cache
def availability() -> AvailabilityService:
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.slot_cache import SlotCache
    from calbridge.services.availability import AvailabilityService

    return AvailabilityService(
        calcom_client(),
        StaffRepository(),
        HostMappingRepository(),
        EventMapRepository(),
        SlotCache(get_settings().slot_cache_s),
    )


@cache
def booking_saga() -> BookingSaga:
    """The booking workflow's steps; the Cal.com client is built only by the steps that call it."""
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.leases import LeaseRepository
    from calbridge.adapters.store.repositories import ServiceRepository
    from calbridge.services.booking import BookingSaga

    return BookingSaga(
        calcom=calcom_client,
        resolver=host_resolver(),
        services=ServiceRepository(),
        event_map=EventMapRepository(),
        leases=LeaseRepository(),
        records=BookingRecordRepository(),
        lease_ttl_s=get_settings().booking_lease_s,
    )


@cache
def appointment_changes() -> AppointmentChanges:
    """The cancel and reschedule workflows' own steps (reschedule also runs the booking saga's)."""
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.services.appointment_changes import AppointmentChanges

    return AppointmentChanges(calcom=calcom_client, records=BookingRecordRepository())
