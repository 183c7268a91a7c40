"""Environment configuration, validated once at start-up.

Every function reads the same variables in AWS and on the local stack; template.yaml's Globals
set them. A missing or malformed variable fails the cold start loudly instead of a request later.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, ValidationInfo, field_validator

from calbridge.errors import InvalidConfiguration


class CalcomApiVersions(BaseModel):
    """`cal-api-version` per endpoint family, as Cal.com's contract wants them
    (docs/reference/calcom-contract): pinned in config, not code. The teams controllers
    (memberships, team event types) serve any version; their docs ask for 2024-06-14, the
    version of the event type inputs they take."""

    model_config = ConfigDict(frozen=True)

    bookings: str = "2024-08-13"
    slots: str = "2024-09-04"
    event_types: str = "2024-06-14"
    teams: str = "2024-06-14"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    companies_table: str = Field(min_length=1)
    phone_numbers_table: str = Field(min_length=1)
    staff_table: str = Field(min_length=1)
    services_table: str = Field(min_length=1)
    calls_table: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    host_mappings_table: str = Field(min_length=1)
    mapping_audits_table: str = Field(min_length=1)
    host_reviews_table: str = Field(min_length=1)
    appointments_table: str = Field(min_length=1)
    slot_cache_table: str = Field(min_length=1)
    slot_cache_s: int = Field(default=60, ge=0)
    # check_availability's limits (docs/adr/0016-availability-budget.md): the time it may spend,
    # below Retell's timeout_ms of 8000 for reads (docs/retell-agent.md), the Cal.com requests one
    # check may send, and how many of them run at once.
    availability_budget_ms: int = Field(default=5000, ge=100, le=25000)
    availability_max_calcom_requests: int = Field(default=8, ge=1, le=64)
    availability_concurrency: int = Field(default=8, ge=1, le=32)
    event_map_table: str = Field(min_length=1)
    # The booking workflow (docs/adr/0006-booking-saga.md): slot leases and the state machine.
    leases_table: str = Field(min_length=1)
    booking_state_machine_arn: str = Field(min_length=1)
    booking_lease_s: int = Field(default=60, gt=0)
    # Compensations Cal.com refused for now (rate limit, outage, open breaker) wait here and are
    # finished by CompensationWorkerFunction (docs/adr/0024-compensation-that-cannot-give-up.md).
    compensation_queue_url: str = Field(min_length=1)
    # Booking requests kept while Cal.com is down, and the queue their worker takes them from
    # (docs/adr/0025-pending-booking-requests.md).
    booking_requests_table: str = Field(min_length=1)
    booking_requests_queue_url: str = Field(min_length=1)
    # Confirmations (docs/adr/0029-confirmations.md): the queue the booking, cancel and reschedule
    # steps put one job on (unset: none queued, e.g. a stack without NotificationsFunction), the
    # SES-verified address they are sent from, and the SMS sender id (1-11 letters and digits,
    # where the destination country allows one; unset: SNS's default origination).
    notifications_queue_url: str | None = Field(default=None, min_length=1)
    confirmation_sender: str | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    sms_sender_id: str | None = Field(
        default=None, max_length=11, pattern=r"^[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*$"
    )
    # Cancel and reschedule of a whole appointment (docs/adr/0007-appointment-changes.md).
    cancel_state_machine_arn: str = Field(min_length=1)
    reschedule_state_machine_arn: str = Field(min_length=1)
    # The nightly team sync's fan-out (docs/adr/0009-team-sync-fan-out.md): its job queue, the
    # run reports, the retry backoff per failed attempt (seeds: 60 s, 300 s, 900 s) and how long
    # one company's sync may take.
    team_sync_queue_url: str = Field(min_length=1)
    sync_runs_table: str = Field(min_length=1)
    sync_run_retention_days: int = Field(default=90, gt=0)
    team_sync_retry_backoff_s: tuple[int, ...] = Field(default=(60, 300, 900), min_length=1)
    team_sync_deadline_s: float = Field(default=300.0, gt=0)
    # What the per-company sync keeps (services/team_sync.py): members and team event types; and
    # how many Cal.com requests a minute one sync container allows itself. Cal.com allows 120 per
    # API key; two workers at a time (TeamSyncWorkerFunction) stay under 100, leaving the rest.
    team_members_table: str = Field(min_length=1)
    calcom_sync_requests_per_minute: int = Field(default=50, ge=1, le=1000)
    # Reconciliation of Cal.com bookings with appointments (docs/adr/0023-reconciliation.md): its job
    # queue and run reports, how long an unheld booking may be a saga in flight (booking lease 60 s
    # + an Express workflow's 5 minutes, with margin), the window (from `lookback` ago to the
    # company's booking window), one run's deadline, and its share of Cal.com's 120 requests a
    # minute per key.
    reconciliation_queue_url: str = Field(min_length=1)
    reconciliation_runs_table: str = Field(min_length=1)
    reconciliation_grace_s: int = Field(default=900, ge=360, le=86400)
    reconciliation_lookback_hours: int = Field(default=24, ge=1, le=720)
    reconciliation_deadline_s: float = Field(default=240.0, gt=0)
    reconciliation_requests_per_minute: int = Field(default=10, ge=1, le=1000)

    calcom_base_url: HttpUrl
    calcom_api_versions: CalcomApiVersions = CalcomApiVersions()
    calcom_connect_timeout_s: float = Field(default=3.0, gt=0)
    calcom_read_timeout_s: float = Field(default=10.0, gt=0)
    # Cal.com's circuit breaker, shared through LeasesTable (docs/adr/0022-calcom-circuit-breaker.md):
    # the seeds' numbers (docs/seeds/phases-3-8-quality-roadmap.md, Phase 3): open after 5 failures
    # within 60 s, one probe after 30 s; and how long a container trusts its view of the state.
    calcom_breaker_failures: int = Field(default=5, ge=1, le=1000)
    calcom_breaker_window_s: float = Field(default=60.0, gt=0, le=3600)
    calcom_breaker_cooldown_s: float = Field(default=30.0, gt=0, le=3600)
    calcom_breaker_cache_s: float = Field(default=5.0, ge=0, le=60)
    # Cal.com's per-key rate limit, kept by all containers together through LeasesTable
    # (docs/adr/0027-calcom-rate-limit-shared.md): at most `limit` requests in any 60 s (Cal.com
    # allows 120), `burst` of them at once after a quiet spell, a container takes up to `batch`
    # permits per write, and a caller without a deadline waits `wait_s` at most for one.
    calcom_rate_limit: int = Field(default=100, ge=2, le=10000)
    calcom_rate_burst: int = Field(default=10, ge=1, le=1000)
    calcom_rate_batch: int = Field(default=4, ge=1, le=100)
    calcom_rate_wait_s: float = Field(default=5.0, ge=0, le=60)

    # Names (or ARNs) of Secrets Manager secrets; the values are fetched and cached at run time.
    retell_api_key_secret: str = Field(min_length=1)
    calcom_api_key_secret: str = Field(min_length=1)
    calcom_webhook_secret_secret: str = Field(min_length=1)
    # A company's own Cal.com API key is the secret <prefix><company_id> (docs/adr/0030).
    calcom_company_key_prefix: str = Field(default="calbridge/calcom-company-key/", min_length=1)
    secret_cache_s: int = Field(default=300, ge=0)

    signature_tolerance_s: int = Field(default=300, gt=0)
    # How long a container trusts its cached mappings and staff directory; a deactivation made
    # elsewhere takes effect within this time (docs/adr/0005-host-resolution.md).
    directory_cache_s: float = Field(default=30.0, ge=0)
    # Tool calls that change appointments run once per (call, tool, arguments); a repeat within
    # this time gets the first answer (docs/adr/0008-tool-calls.md). A call lasts minutes.
    tool_idempotency_s: int = Field(default=3600, ge=60, le=86400)
    # How long a repeat waits for the first, still running, call before it answers "one moment".
    tool_in_progress_wait_s: float = Field(default=5.0, ge=0, le=20)
    # A tool call answers within its budget whatever Cal.com does (docs/adr/0026-tool-call-budget.md):
    # Retell's timeout_ms (8000 for reads, 12000 for the tools that run a workflow,
    # docs/retell-agent.md) less a margin for API Gateway, the Lambda and the network.
    tool_read_budget_ms: int = Field(default=6500, ge=500, le=29000)
    tool_change_budget_ms: int = Field(default=10000, ge=500, le=29000)

    @field_validator("team_sync_retry_backoff_s", mode="before")
    @classmethod
    def _seconds_list(cls, value: object) -> object:
        """The environment spells the backoff as "60,300,900"."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("team_sync_retry_backoff_s")
    @classmethod
    def _non_negative(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(seconds < 0 or seconds > 43200 for seconds in value):
            raise ValueError("every delay must be between 0 and 43200 seconds (SQS's visibility limit)")
        return value

    @field_validator("calcom_rate_burst")
    @classmethod
    def _burst_below_limit(cls, value: int, info: ValidationInfo) -> int:
        """A burst as big as the limit would leave no steady rate (ADR 0027)."""
        limit = info.data.get("calcom_rate_limit")
        if limit is not None and value >= limit:
            raise ValueError(f"must be below CALCOM_RATE_LIMIT ({limit})")
        return value

    @field_validator("calcom_rate_batch")
    @classmethod
    def _batch_within_burst(cls, value: int, info: ValidationInfo) -> int:
        burst = info.data.get("calcom_rate_burst")
        if burst is not None and value > burst:
            raise ValueError(f"must not exceed CALCOM_RATE_BURST ({burst})")
        return value


_ENV = {
    "companies_table": "COMPANIES_TABLE",
    "phone_numbers_table": "PHONE_NUMBERS_TABLE",
    "staff_table": "STAFF_TABLE",
    "services_table": "SERVICES_TABLE",
    "calls_table": "CALLS_TABLE",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "host_mappings_table": "HOST_MAPPINGS_TABLE",
    "mapping_audits_table": "MAPPING_AUDITS_TABLE",
    "host_reviews_table": "HOST_REVIEWS_TABLE",
    "appointments_table": "APPOINTMENTS_TABLE",
    "slot_cache_table": "SLOT_CACHE_TABLE",
    "slot_cache_s": "SLOT_CACHE_S",
    "availability_budget_ms": "AVAILABILITY_BUDGET_MS",
    "availability_max_calcom_requests": "AVAILABILITY_MAX_CALCOM_REQUESTS",
    "availability_concurrency": "AVAILABILITY_CONCURRENCY",
    "event_map_table": "EVENT_MAP_TABLE",
    "leases_table": "LEASES_TABLE",
    "booking_state_machine_arn": "BOOKING_STATE_MACHINE_ARN",
    "booking_lease_s": "BOOKING_LEASE_S",
    "notifications_queue_url": "NOTIFICATIONS_QUEUE_URL",
    "confirmation_sender": "CONFIRMATION_SENDER",
    "sms_sender_id": "SMS_SENDER_ID",
    "cancel_state_machine_arn": "CANCEL_STATE_MACHINE_ARN",
    "reschedule_state_machine_arn": "RESCHEDULE_STATE_MACHINE_ARN",
    "team_sync_queue_url": "TEAM_SYNC_QUEUE_URL",
    "compensation_queue_url": "COMPENSATION_QUEUE_URL",
    "booking_requests_table": "BOOKING_REQUESTS_TABLE",
    "booking_requests_queue_url": "BOOKING_REQUESTS_QUEUE_URL",
    "sync_runs_table": "SYNC_RUNS_TABLE",
    "sync_run_retention_days": "SYNC_RUN_RETENTION_DAYS",
    "team_sync_retry_backoff_s": "TEAM_SYNC_RETRY_BACKOFF_S",
    "team_sync_deadline_s": "TEAM_SYNC_DEADLINE_S",
    "team_members_table": "TEAM_MEMBERS_TABLE",
    "calcom_sync_requests_per_minute": "CALCOM_SYNC_REQUESTS_PER_MINUTE",
    "reconciliation_queue_url": "RECONCILIATION_QUEUE_URL",
    "reconciliation_runs_table": "RECONCILIATION_RUNS_TABLE",
    "reconciliation_grace_s": "RECONCILIATION_GRACE_S",
    "reconciliation_lookback_hours": "RECONCILIATION_LOOKBACK_HOURS",
    "reconciliation_deadline_s": "RECONCILIATION_DEADLINE_S",
    "reconciliation_requests_per_minute": "RECONCILIATION_REQUESTS_PER_MINUTE",
    "calcom_base_url": "CALCOM_BASE_URL",
    "calcom_connect_timeout_s": "CALCOM_CONNECT_TIMEOUT_S",
    "calcom_read_timeout_s": "CALCOM_READ_TIMEOUT_S",
    "calcom_breaker_failures": "CALCOM_BREAKER_FAILURES",
    "calcom_breaker_window_s": "CALCOM_BREAKER_WINDOW_S",
    "calcom_breaker_cooldown_s": "CALCOM_BREAKER_COOLDOWN_S",
    "calcom_breaker_cache_s": "CALCOM_BREAKER_CACHE_S",
    "calcom_rate_limit": "CALCOM_RATE_LIMIT",
    "calcom_rate_burst": "CALCOM_RATE_BURST",
    "calcom_rate_batch": "CALCOM_RATE_BATCH",
    "calcom_rate_wait_s": "CALCOM_RATE_WAIT_S",
    "retell_api_key_secret": "RETELL_API_KEY_SECRET",
    "calcom_api_key_secret": "CALCOM_API_KEY_SECRET",
    "calcom_webhook_secret_secret": "CALCOM_WEBHOOK_SECRET_SECRET",
    "calcom_company_key_prefix": "CALCOM_COMPANY_KEY_PREFIX",
    "secret_cache_s": "SECRET_CACHE_S",
    "signature_tolerance_s": "RETELL_SIGNATURE_TOLERANCE_S",
    "directory_cache_s": "DIRECTORY_CACHE_S",
    "tool_idempotency_s": "TOOL_IDEMPOTENCY_S",
    "tool_in_progress_wait_s": "TOOL_IN_PROGRESS_WAIT_S",
    "tool_read_budget_ms": "TOOL_READ_BUDGET_MS",
    "tool_change_budget_ms": "TOOL_CHANGE_BUDGET_MS",
}
_VERSION_ENV = {
    "bookings": "CALCOM_API_VERSION_BOOKINGS",
    "slots": "CALCOM_API_VERSION_SLOTS",
    "event_types": "CALCOM_API_VERSION_EVENT_TYPES",
    "teams": "CALCOM_API_VERSION_TEAMS",
}


def load_settings(environ: dict[str, str] | os._Environ[str] = os.environ) -> Settings:
    """Build Settings from environment variables; raise InvalidConfiguration naming what is wrong."""
    values: dict[str, object] = {field: environ[var] for field, var in _ENV.items() if environ.get(var)}
    values["calcom_api_versions"] = {
        family: environ[var] for family, var in _VERSION_ENV.items() if environ.get(var)
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        by_field = {field: var for field, var in _ENV.items()}
        problems = ", ".join(
            f"{by_field.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidConfiguration(f"invalid environment configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded on first use (at import time of every handler)."""
    return load_settings()
