"""Builds the services from the production adapters once per container (handlers import this)."""

from __future__ import annotations

from functools import cache

from calbridge.adapters.store.host_mappings import (
    AppointmentRepository,
    HostMappingRepository,
    HostReviewRepository,
)
from calbridge.adapters.store.repositories import CompanyRepository, StaffRepository
from calbridge.config import get_settings
from calbridge.services.host_resolution import HostResolver


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
