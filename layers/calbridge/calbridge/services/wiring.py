"""Builds the services from the production adapters once per container (handlers import this)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from calbridge.adapters.store.repositories import CompanyRepository, ServiceRepository, StaffRepository
from calbridge.config import get_settings
from calbridge.errors import InvalidConfiguration

# Each piece is imported by the function that builds it: a handler's cold start imports only what
# the pieces it builds at import need (docs/benchmarks.md, cold starts). Host mappings and their
# name matching, for one, are for host resolution, availability, booking and the admin API.
if TYPE_CHECKING:
    from calbridge.adapters.calcom import CalcomClient
    from calbridge.adapters.calcom.breaker import CalcomBreaker
    from calbridge.adapters.calcom.rate_limit import CalcomRateLimiter
    from calbridge.adapters.idempotency import OnceOnly
    from calbridge.adapters.queue import JobQueue
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.host_mappings import HostMappingRepository
    from calbridge.services.appointment_changes import AppointmentChanges
    from calbridge.services.availability import AvailabilityService
    from calbridge.services.booking import BookingSaga
    from calbridge.services.booking_requests import BookingRequests
    from calbridge.services.call_records import CallRecords
    from calbridge.services.confirmations import Confirmations
    from calbridge.services.credentials import CalcomCredentials
    from calbridge.services.event_types import EventTypeProvisioner
    from calbridge.services.host_resolution import HostResolver
    from calbridge.services.reconciliation import Reconciler
    from calbridge.services.team_sync import TeamSync
    from calbridge.services.team_sync_jobs import TeamSyncFanOut, TeamSyncRunner, TeamSyncWorker


@cache
def host_resolver() -> HostResolver:
    from calbridge.adapters.store.host_mappings import (
        AppointmentRepository,
        HostMappingRepository,
        HostReviewRepository,
    )
    from calbridge.services.host_resolution import HostResolver

    return HostResolver(
        CompanyRepository(),
        StaffRepository(),
        HostMappingRepository(),
        HostReviewRepository(),
        AppointmentRepository(),
        cache_ttl_s=get_settings().directory_cache_s,
    )


@cache
def config_reads() -> tuple[CompanyRepository, StaffRepository, ServiceRepository]:
    """The company, staff and service repositories of the hot read path (the Retell webhook's
    inbound routing and tool calls, availability): what they read of a company is kept in this
    container for settings.directory_cache_s, as host resolution keeps its view of it."""
    ttl = get_settings().directory_cache_s
    return CompanyRepository(ttl), StaffRepository(ttl), ServiceRepository(ttl)


@cache
def booking_reads() -> tuple[HostMappingRepository, EventMapRepository]:
    """Host mappings and the event map as availability and booking plans read them: kept in this
    container for settings.directory_cache_s (a write in this container drops them at once)."""
    from calbridge.adapters.store.event_map import EventMapRepository  # its table: booking functions only
    from calbridge.adapters.store.host_mappings import HostMappingRepository

    ttl = get_settings().directory_cache_s
    return HostMappingRepository(ttl), EventMapRepository(ttl)


def clear_caches() -> None:
    """Forget everything this container cached about companies (tests reseeding the stack)."""
    from calbridge.adapters.store.host_mappings import HostMappingRepository

    host_resolver().clear()
    for repository in config_reads():
        repository.clear_cache()
    HostMappingRepository.clear_cache()
    if booking_reads.cache_info().currsize:
        booking_reads()[1].clear_cache()
    if calcom_breaker.cache_info().currsize:  # its view of a state the tables no longer hold
        calcom_breaker().forget()
    if calcom_rate_limiter.cache_info().currsize:
        calcom_rate_limiter().forget()


# The Cal.com pieces are imported on first use: handlers that never call Cal.com (host
# resolution) keep httpx out of their cold start.


def _calcom_api_key() -> str:
    from calbridge.adapters.secrets import get_secret

    settings = get_settings()
    return get_secret(settings.calcom_api_key_secret, settings.secret_cache_s)


def company_key_secret(company_id: str) -> str:
    """The secret holding a company's own Cal.com API key (docs/adr/0030)."""
    return get_settings().calcom_company_key_prefix + company_id


def _company_api_key(company_id: str) -> str:
    """The key of the company's Cal.com calls: its own when it has one, else the platform's. The
    company is read through this container's directory cache, the key through the secret cache:
    a new or rotated key is used within their TTLs (at once in the container that wrote it)."""
    from calbridge.adapters.secrets import get_secret

    if config_reads()[0].get(company_id).calcom_credential == "own":
        return get_secret(company_key_secret(company_id), get_settings().secret_cache_s)
    return _calcom_api_key()


@cache
def calcom_breaker() -> CalcomBreaker:
    """The container's Cal.com circuit breaker: its view of the state all containers share
    through LeasesTable, per API key (docs/adr/0022-calcom-circuit-breaker.md)."""
    from calbridge.adapters.calcom.breaker import BreakerPolicy, BreakerStore, CalcomBreaker

    return CalcomBreaker(BreakerStore(), _calcom_api_key, BreakerPolicy.from_settings(get_settings()))


@cache
def calcom_rate_limiter() -> CalcomRateLimiter:
    """The container's share of Cal.com's per-key rate limit, kept by all containers together
    through LeasesTable (docs/adr/0027-calcom-rate-limit-shared.md)."""
    from calbridge.adapters.calcom.rate_limit import CalcomRateLimiter, RatePolicy, RateStore

    return CalcomRateLimiter(RateStore(), _calcom_api_key, RatePolicy.from_settings(get_settings()))


@cache
def calcom_client() -> CalcomClient:
    """One pooled Cal.com client per container; the API key is read (and cached) per request,
    every exchange runs through the container's circuit breaker, and every request it lets
    through waits for a permit of the key's rate limit: live calls, saga steps, the team sync and
    the reconciliation alike (their own Pacers only bound their share of it). Every caller uses
    its view `for_company(company_id)`: the company's own key, or the platform's (ADR 0030),
    with that key's breaker and rate limit."""
    from calbridge.adapters.calcom import CalcomClient

    return CalcomClient.from_settings(
        get_settings(),
        _calcom_api_key,
        breaker=calcom_breaker(),
        rate_limiter=calcom_rate_limiter(),
        company_key_provider=_company_api_key,
    )


@cache
def calcom_credentials() -> CalcomCredentials:
    """The admin API's companies' own Cal.com keys (docs/adr/0030): written to Secrets Manager,
    used by this container's next call at once (its caches of the company and the key dropped)."""
    from calbridge.adapters.secrets import delete_secret, put_secret
    from calbridge.adapters.store.audits import AdminAuditLog
    from calbridge.services.credentials import CalcomCredentials

    return CalcomCredentials(
        CompanyRepository(),
        calcom_client,
        AdminAuditLog(),
        secret_name=company_key_secret,
        write_secret=put_secret,
        delete_secret=delete_secret,
        forget_company=lambda company_id: config_reads()[0].clear_cache(),
    )


@cache
def event_type_provisioner() -> EventTypeProvisioner:
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.host_mappings import HostMappingRepository
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
    from calbridge.adapters.store.slot_cache import SlotCache
    from calbridge.services.availability import AvailabilityService

    return AvailabilityService(
        calcom_client(),
        config_reads()[1],
        *booking_reads(),
        SlotCache(get_settings().slot_cache_s),
    )


@cache
def booking_saga() -> BookingSaga:
    """The booking workflow's steps; the Cal.com client is built only by the steps that call it."""
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.adapters.store.leases import LeaseRepository
    from calbridge.services.booking import BookingSaga

    return BookingSaga(
        calcom=calcom_client,
        resolver=host_resolver(),
        services=config_reads()[2],
        event_map=booking_reads()[1],
        leases=LeaseRepository(),
        records=BookingRecordRepository(companies=config_reads()[0]),  # its retention (ADR 0028)
        deferrals=compensation_queue,
        confirmations=notifications_queue if get_settings().notifications_queue_url else None,
        lease_ttl_s=get_settings().booking_lease_s,
    )


@cache
def compensation_queue() -> JobQueue:
    """Compensations Cal.com refused for now, finished by CompensationWorkerFunction (ADR 0024)."""
    from calbridge.adapters.queue import JobQueue

    return JobQueue(get_settings().compensation_queue_url)


@cache
def appointment_changes() -> AppointmentChanges:
    """The cancel and reschedule workflows' own steps (reschedule also runs the booking saga's)."""
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.services.appointment_changes import AppointmentChanges

    return AppointmentChanges(
        calcom=calcom_client,
        records=BookingRecordRepository(companies=config_reads()[0]),  # its retention (ADR 0028)
        deferrals=compensation_queue,
        confirmations=notifications_queue if get_settings().notifications_queue_url else None,
    )


@cache
def call_records() -> CallRecords:
    """Call records: the lifecycle webhooks write them, the tools note appointments on them."""
    from calbridge.adapters.store.calls import CallRepository
    from calbridge.services.call_records import CallRecords

    return CallRecords(CompanyRepository(), CallRepository())


# The nightly team sync's fan-out (services/team_sync_jobs.py): the scheduler, the admin API and
# the worker share one queue client; the per-company sync is `team_sync()`, built on first use.


@cache
def team_sync() -> TeamSync:
    """The per-company team sync (services/team_sync.py). Its Pacer bounds the share of the
    key's rate limit one sync container takes; the client's shared limiter keeps the total."""
    from calbridge.adapters.calcom.pacing import Pacer
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.host_mappings import HostMappingRepository, HostReviewRepository
    from calbridge.adapters.store.team import TeamRepository
    from calbridge.services.team_sync import TeamSync

    return TeamSync(
        calcom_client(),
        host_resolver(),
        companies=CompanyRepository(),
        staff=StaffRepository(),
        services=ServiceRepository(),
        mappings=HostMappingRepository(),
        reviews=HostReviewRepository(),
        team=TeamRepository(),
        event_map=EventMapRepository(),
        pacer=Pacer(limit=get_settings().calcom_sync_requests_per_minute),
    )


@cache
def team_sync_queue() -> JobQueue:
    from calbridge.adapters.queue import JobQueue

    return JobQueue(get_settings().team_sync_queue_url)


@cache
def team_sync_fan_out() -> TeamSyncFanOut:
    from calbridge.services.team_sync_jobs import TeamSyncFanOut

    return TeamSyncFanOut(CompanyRepository(), team_sync_queue())


@cache
def team_sync_runner() -> TeamSyncRunner:
    from calbridge.adapters.store.leases import LeaseRepository
    from calbridge.adapters.store.sync_runs import SyncRunRepository
    from calbridge.services.team_sync_jobs import TeamSyncRunner

    settings = get_settings()
    return TeamSyncRunner(
        team_sync,
        CompanyRepository(),
        LeaseRepository(),
        SyncRunRepository(settings.sync_run_retention_days),
        max_deadline_s=settings.team_sync_deadline_s,
    )


@cache
def team_sync_worker() -> TeamSyncWorker:
    from calbridge.services.team_sync_jobs import TeamSyncWorker

    return TeamSyncWorker(team_sync_runner(), team_sync_queue(), get_settings().team_sync_retry_backoff_s)


# The hourly reconciliation (services/reconciliation.py, ADR 0023): the team sync's fan-out and
# worker with their own queue, label and metrics.


@cache
def reconciliation_queue() -> JobQueue:
    from calbridge.adapters.queue import JobQueue

    return JobQueue(get_settings().reconciliation_queue_url)


@cache
def reconciliation_fan_out() -> TeamSyncFanOut:
    from calbridge.services.reconciliation import LABEL, METRIC_PREFIX
    from calbridge.services.team_sync_jobs import TeamSyncFanOut

    return TeamSyncFanOut(
        CompanyRepository(), reconciliation_queue(), label=LABEL, metric_prefix=METRIC_PREFIX
    )


@cache
def reconciler() -> Reconciler:
    from calbridge.adapters.store.bookings import ReconciliationRecords
    from calbridge.adapters.store.calcom_changes import CalcomChangeRecords
    from calbridge.adapters.store.event_map import EventMapRepository
    from calbridge.adapters.store.leases import LeaseRepository
    from calbridge.adapters.store.reconciliation_runs import ReconciliationRunRepository
    from calbridge.services.reconciliation import Reconciler

    settings = get_settings()
    return Reconciler(
        calcom_client,
        CompanyRepository(),
        ServiceRepository(),
        EventMapRepository(),
        ReconciliationRecords(),
        CalcomChangeRecords(),
        LeaseRepository(),
        ReconciliationRunRepository(settings.sync_run_retention_days),
        requests_per_minute=settings.reconciliation_requests_per_minute,
        grace_s=settings.reconciliation_grace_s,
        lookback_hours=settings.reconciliation_lookback_hours,
        max_deadline_s=settings.reconciliation_deadline_s,
    )


@cache
def reconciliation_worker() -> TeamSyncWorker:
    from calbridge.services.reconciliation import LABEL, METRIC_PREFIX
    from calbridge.services.team_sync_jobs import TeamSyncWorker

    return TeamSyncWorker(
        reconciler(),
        reconciliation_queue(),
        get_settings().team_sync_retry_backoff_s,
        label=LABEL,
        metric_prefix=METRIC_PREFIX,
    )


@cache
def tool_call_once() -> OnceOnly:
    """Idempotency of the tools that change appointments (docs/adr/0008-tool-calls.md); the
    handler registers each invocation's context on its config."""
    from calbridge.adapters.idempotency import OnceOnly

    settings = get_settings()
    return OnceOnly(
        settings.idempotency_table,
        expires_after_s=settings.tool_idempotency_s,
        wait_s=settings.tool_in_progress_wait_s,
    )


# Booking requests kept while Cal.com is down (services/booking_requests.py, ADR 0025): the tool
# records and queues them, BookingRequestsWorkerFunction books them once Cal.com is back.


@cache
def booking_requests_queue() -> JobQueue:
    from calbridge.adapters.queue import JobQueue

    return JobQueue(get_settings().booking_requests_queue_url)


@cache
def booking_requests() -> BookingRequests:
    from calbridge.adapters.store.booking_requests import BookingRequestRepository
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.services.booking_attempts import BookingAttempts
    from calbridge.services.booking_requests import BookingRequests

    companies, _, services = config_reads()
    return BookingRequests(
        BookingRequestRepository(companies),  # its retention (ADR 0028)
        booking_requests_queue,
        companies=companies,
        services=services,
        attempts=lambda: BookingAttempts(availability, booking_saga),
        records=BookingRecordRepository(companies=companies),
        saga=booking_saga,
    )


# ---------------------------------------------------------------- confirmations (issue 13, item 5)
# The booking, cancel and reschedule steps queue one job each; NotificationsFunction sends it
# (services/confirmations.py, docs/adr/0029-confirmations.md).


@cache
def notifications_queue() -> JobQueue:
    """The notifications queue, on a botocore client: the booking steps' cold start never
    imports boto3 for their one SendMessage."""
    from calbridge.adapters.notify import lean_client
    from calbridge.adapters.queue import JobQueue

    url = get_settings().notifications_queue_url
    if not url:
        raise InvalidConfiguration("NOTIFICATIONS_QUEUE_URL is not set")
    return JobQueue(url, client_factory=lambda: lean_client("sqs"))


@cache
def confirmations() -> Confirmations:
    from calbridge.adapters.idempotency import OnceOnly
    from calbridge.adapters.notify import Mailer, SmsSender
    from calbridge.adapters.store.bookings import BookingRecordRepository
    from calbridge.services.confirmations import SENT_REMEMBERED_S, Confirmations

    settings = get_settings()
    if not settings.confirmation_sender:
        raise InvalidConfiguration("CONFIRMATION_SENDER is not set")
    companies = CompanyRepository()
    return Confirmations(
        records=BookingRecordRepository(companies=companies),
        companies=companies,
        staff=StaffRepository(),
        mailer=Mailer(),
        sms=SmsSender(settings.sms_sender_id),
        # wait_s 0: a job still being sent elsewhere (a duplicate delivery) is retried by its queue
        once=OnceOnly(settings.idempotency_table, expires_after_s=SENT_REMEMBERED_S, wait_s=0),
        sender=settings.confirmation_sender,
    )
