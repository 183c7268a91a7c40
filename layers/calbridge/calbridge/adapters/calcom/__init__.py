"""Cal.com API v2 adapter: `CalcomClient`, its typed models and the error mapping.

Typical use, once per Lambda container:

    client = CalcomClient.from_settings(get_settings(), api_key_provider=cached_calcom_key)
"""

from calbridge.adapters.calcom.client import CalcomClient
from calbridge.adapters.calcom.error_mapping import retry_after_s, to_calcom_error
from calbridge.adapters.calcom.models import (
    AttendeeInput,
    AvailableSlots,
    Booking,
    BookingAttendee,
    BookingEventType,
    BookingHost,
    CreateBookingRequest,
    EmailSettings,
    EventTypeTeam,
    EventTypeUser,
    HostPriority,
    MembershipUser,
    Pagination,
    RescheduleBookingRequest,
    SchedulingType,
    Slot,
    TeamEventType,
    TeamEventTypeCreate,
    TeamEventTypeHost,
    TeamEventTypeUpdate,
    TeamMembership,
    UserEventType,
    utc_z,
)

__all__ = [
    "AttendeeInput",
    "AvailableSlots",
    "Booking",
    "BookingAttendee",
    "BookingEventType",
    "BookingHost",
    "CalcomClient",
    "CreateBookingRequest",
    "EmailSettings",
    "EventTypeTeam",
    "EventTypeUser",
    "HostPriority",
    "MembershipUser",
    "Pagination",
    "RescheduleBookingRequest",
    "SchedulingType",
    "Slot",
    "TeamEventType",
    "TeamEventTypeCreate",
    "TeamEventTypeHost",
    "TeamEventTypeUpdate",
    "TeamMembership",
    "UserEventType",
    "retry_after_s",
    "to_calcom_error",
    "utc_z",
]
