"""`make bench`: how fast calbridge answers Retell, measured on the local stack.

    python -m local.bench [SECTION ...] [--runs N] [--no-write]     (default: every section)

Sections: `tools` (per Retell request: the webhook handler's time and our own overhead, the time
spent waiting on Cal.com subtracted, warm, p50/p95), `hosts` (resolving a mapped host), `booking`
(a 4-segment composite booking through the booking state machine with the Cal.com stand-in at
150 ms latency: end-to-end time, Cal.com and DynamoDB calls per booking, against issue 4's
goals), `availability` (check_availability's worst case through the HTTP front: 4 staff, no
preference, the asked day full, cold slot cache, at 150 and 400 ms Cal.com latency, against issue
11's goals), `voice` (book_appointment with a cold slot cache, and check_availability followed by
book_appointment, through the HTTP front at 150 and 400 ms Cal.com latency, against issue 11's
booking goals, with the DynamoDB calls per booking by operation and the workflow's states),
`console` (what the console's browser waits for through the HTTP front: the page, a revalidated
file, API reads behind the JWT authorizer, a refused other company), `sync` (the team sync) and
`imports` (the cold-start import of every function's handler module, in
a fresh interpreter with Lambda's packages only). DynamoDB calls are counted at the botocore level
in every thread (`dynamodb_calls`). Results are printed; each section's
table replaces its own block in docs/benchmarks.md (between `<!-- bench:NAME -->` markers), so
the text around the blocks stays and a run of some sections leaves the others' figures.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from local.retell_sim import RetellSimulator
from local.seed import DEMO_FIXTURE, reseed, seed_demo
from local.stack import LocalStack

REPO = Path(__file__).parents[1]
RESULTS = REPO / "docs" / "benchmarks.md"
CALL = {
    "call_id": "call_bench",
    "direction": "inbound",
    "from_number": "+4915112345678",
    "to_number": "+4930123456789",
    "metadata": {"company_id": "salon-demo", "branch_id": "berlin-mitte"},
}


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def dynamodb_calls(tables: list[str] | None = None) -> Iterator[list[str]]:
    """The DynamoDB operations made meanwhile, in any thread, counted where every AWS call passes:
    botocore's BaseClient._make_api_call (PynamoDB's Connection calls it, and so does the boto3
    client of Powertools' idempotency). Calls to other services (Step Functions, Lambda) are not
    counted. `tables`, when given, receives the tables each call named (in the calls' order)."""
    client = importlib.import_module("botocore.client").BaseClient
    original, calls, lock = client._make_api_call, [], threading.Lock()

    def counting(self: Any, operation: str, params: Any, *args: Any, **kwargs: Any) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            with lock:
                calls.append(operation)
                if tables is not None:
                    tables.extend(_tables_named(params))
        return original(self, operation, params, *args, **kwargs)

    client._make_api_call = counting
    try:
        yield calls
    finally:
        client._make_api_call = original


def _tables_named(params: dict[str, Any]) -> set[str]:
    """The tables one DynamoDB request touches: TableName, the keys of RequestItems (batches), the
    TableName of each transaction item."""
    named = {params["TableName"]} if "TableName" in params else set(params.get("RequestItems", ()))
    for item in params.get("TransactItems", ()):
        named.update(action["TableName"] for action in item.values() if "TableName" in action)
    return named


def empty_slot_cache() -> None:
    """Delete every slot-cache entry (a cold cache for the next request; untimed, uncounted)."""
    record = importlib.import_module("calbridge.adapters.store.models").SlotCacheRecord
    with record.batch_write() as batch:
        for entry in record.scan():
            batch.delete(entry)


@contextlib.contextmanager
def calcom_exchanges() -> Iterator[list[tuple[float, float]]]:
    """(start, end) perf_counter seconds of every exchange with Cal.com meanwhile, in any thread
    (our client's one entry point, CalcomClient._send)."""
    client = importlib.import_module("calbridge.adapters.calcom.client").CalcomClient
    original, spans, lock = client._send, [], threading.Lock()

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            with lock:
                spans.append((started, time.perf_counter()))

    client._send = timed
    try:
        yield spans
    finally:
        client._send = original


def covered_ms(spans: list[tuple[float, float]]) -> float:
    """How long at least one of the spans was open (parallel exchanges count once)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total * 1000


RUNTIME_VENV = REPO / ".aws-sam" / "bench-runtime"


def runtime_python() -> Path:
    """A venv with only what Lambda has: the layer's requirements plus boto3. (The dev venv also
    holds sam, moto and awscrt, which would make imports look slower than in Lambda.)"""
    python = RUNTIME_VENV / "bin" / "python"
    requirements = REPO / "layers/calbridge/requirements.txt"
    stamp = RUNTIME_VENV / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < requirements.stat().st_mtime:
        subprocess.run([sys.executable, "-m", "venv", "--clear", RUNTIME_VENV], check=True)
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", requirements, "boto3"], check=True, stderr=subprocess.DEVNULL)
        stamp.touch()
    return python


IMPORT_REPEATS = 9
BENCH_LAYER = REPO / ".aws-sam" / "bench-layer"


def deployed_layer(python: Path) -> Path:
    """The calbridge package as `sam build` ships it (layers/calbridge/Makefile): with bytecode
    compiled ahead, because Lambda's read-only /opt would make every cold start compile it."""
    shutil.rmtree(BENCH_LAYER, ignore_errors=True)
    shutil.copytree(
        REPO / "layers/calbridge/calbridge",
        BENCH_LAYER / "calbridge",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", BENCH_LAYER], check=True
    )
    return BENCH_LAYER


def import_times_ms(python: Path, code_uris: list[str], repeats: int = IMPORT_REPEATS) -> dict[str, float]:
    """Per CodeUri, the median CPU time of importing its handler module (`app`) in a fresh
    interpreter (on an idle CPU, its wall time; on a shared machine far steadier), the code URIs
    taken in turn so a burst of load elsewhere does not hit one of them only. The environment is
    the stack's as Lambda would have it: LAMBDA_TASK_ROOT set and tracing on (the local stack
    turns tracing off, and outside Lambda Powertools' Tracer would neither patch nor trace)."""
    script = "import time; t=time.process_time(); import app; print((time.process_time()-t)*1000)"
    layer = deployed_layer(python)
    base = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    samples: dict[str, list[float]] = {code_uri: [] for code_uri in code_uris}
    for _ in range(repeats):
        for code_uri in code_uris:
            env = {
                **base,
                "LAMBDA_TASK_ROOT": str(REPO / code_uri),
                "AWS_LAMBDA_FUNCTION_NAME": "calbridge-bench",
                "PYTHONPATH": f"{layer}:{REPO / code_uri}",
            }
            run = subprocess.run([python, "-c", script], env=env, capture_output=True, text=True, check=True)
            samples[code_uri].append(float(run.stdout))
    return {code_uri: statistics.median(times) for code_uri, times in samples.items()}


def host_resolution_rows(runs: int) -> list[tuple[str, float, float, float]]:
    """DynamoDB calls and time to resolve a mapped host in a warm container (company and staff
    directory cached), before and after the mapping itself is cached."""
    # The stack imported the layer afresh at start (a cold start): use its modules.
    wiring = importlib.import_module("calbridge.services.wiring")
    hosts = importlib.import_module("calbridge.domain.hosts")
    host = hosts.HostRef.from_calcom({"id": 1420209, "name": "Fabian Spitzer", "email": "fabian@askproai.de"})
    wiring.host_resolver().resolve("salon-demo", host)  # creates the mapping

    def fresh_container() -> Any:
        wiring.host_resolver.cache_clear()
        resolver = wiring.host_resolver()
        resolver.company("salon-demo"), resolver.directory("salon-demo")
        return resolver

    cold, warm, cold_calls, warm_calls = [], [], 0, 0
    try:
        with dynamodb_calls() as calls:
            for _ in range(runs):
                resolver = fresh_container()
                calls.clear()
                started = time.perf_counter()
                resolver.resolve("salon-demo", host)
                cold.append((time.perf_counter() - started) * 1000)
                cold_calls += len(calls)
                calls.clear()
                started = time.perf_counter()
                resolver.resolve("salon-demo", host)
                warm.append((time.perf_counter() - started) * 1000)
                warm_calls += len(calls)
    finally:
        wiring.host_resolver.cache_clear()
    return [
        ("mapping not cached yet", cold_calls / runs, statistics.median(cold), percentile(cold, 95)),
        ("mapping cached (TTL 30 s)", warm_calls / runs, statistics.median(warm), percentile(warm, 95)),
    ]


SYNC_TEAM_SIZES, SYNC_EVENT_TYPES, SYNC_HOSTS_PER_EVENT_TYPE = (10, 100, 500), 20, 5
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def team_sync_rows(stack: LocalStack) -> list[str]:
    """The nightly team sync of one company (services/team_sync.py) for teams of 10, 100 and 500
    members with 20 team event types, each member matching a staff member by e-mail: time, Cal.com
    requests (the report's count) and DynamoDB calls (at the botocore level, dynamodb_calls) of the
    first run (links everyone, imports every event type) and of a second one (nothing changed).
    The stand-in runs with its 120/min rate limit; tables and team are reset between sizes."""
    wiring = importlib.import_module("calbridge.services.wiring")
    models = importlib.import_module("calbridge.domain.models")
    store = importlib.import_module("calbridge.adapters.store.repositories")

    assert stack.calcom_url is not None and stack.standin is not None
    headers = {"Authorization": f"Bearer {stack.standin.api_key}"}
    team_id = stack.standin.store.team["id"]
    rows = []
    with httpx.Client(base_url=stack.calcom_url, headers=headers, timeout=30) as calcom:
        for size in SYNC_TEAM_SIZES:
            stack.reset()  # empty tables: moto's queries cost grows with the table, DynamoDB's does not
            company_id = f"sync-bench-{size}"
            branch = models.Branch(branch_id="main", name="Main")
            company = models.Company(
                company_id=company_id,
                name=company_id,
                timezone="Europe/Berlin",
                calcom_team_id=team_id,
                branches=[branch],
            )
            store.CompanyRepository().save(company)
            users = [3_000_000 + index for index in range(size)]
            email = "m{}@bench.example".format
            staff = [
                models.StaffMember(
                    company_id=company_id, staff_id=f"staff-{user}", name=f"Staff {user}", email=email(user)
                )
                for user in users
            ]
            store.StaffRepository().save_many(staff)
            for user in users:
                member = {"user_id": user, "email": email(user), "name": f"Member {user}"}
                calcom.post("/_standin/members", json=member).raise_for_status()
            for index in range(SYNC_EVENT_TYPES):
                hosts = [users[(index + k) % size] for k in range(min(SYNC_HOSTS_PER_EVENT_TYPE, size))]
                body = {
                    "title": f"Bench service {index}",
                    "slug": f"bench-{index}",
                    "lengthInMinutes": 30,
                    "schedulingType": "roundRobin",
                    "hosts": [{"userId": user} for user in hosts],
                }
                calcom.post(f"/v2/teams/{team_id}/event-types", json=body).raise_for_status()
            calcom.post("/_standin/rate-limit", json={"enabled": True}).raise_for_status()  # a fresh window
            wiring.team_sync.cache_clear()
            for run in ("first", "second"):
                with dynamodb_calls() as operations:
                    started = time.perf_counter()
                    report = wiring.team_sync().sync_company(company_id)
                    elapsed_ms = (time.perf_counter() - started) * 1000
                assert report.status == "ok", report
                writes = sum(1 for operation in operations if operation in DYNAMODB_WRITES)
                cells = (
                    size,
                    run,
                    f"{elapsed_ms:.0f}",
                    f"{elapsed_ms / size:.1f}",
                    report.calcom_calls,
                    f"{len(operations)} ({writes} writes)",
                    report.mappings_created,
                    report.services_created,
                    report.event_types_provisioned,
                )
                rows.append("| " + " | ".join(map(str, cells)) + " |")
    reseed(stack)
    return [
        f"| team sync: members ({SYNC_EVENT_TYPES} team event types) | run | time ms | ms per member | "
        "Cal.com requests | DynamoDB calls | mappings created | services created | "
        "booking event types created |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Team sync: Cal.com requests are the membership pages (250 a page), one event type listing and,",
        "on a first run, one create per booking event type the imported services need (one per service",
        f"and linked host, ADR 0013: {SYNC_EVENT_TYPES} x {SYNC_HOSTS_PER_EVENT_TYPE} here). A first run's",
        "time is those creates within the sync's own Cal.com budget (CALCOM_SYNC_REQUESTS_PER_MINUTE,",
        "50 a minute per container, under Cal.com's 120 per key): about two minutes here, whatever the",
        "team's size. DynamoDB calls are a dozen reads (one query per kind) plus, on a first run, one",
        "transaction (mapping + audit) per linked member and batches of 25 for the rest, so they grow",
        "linearly; a second run writes nothing. The team also holds the fixture's 4 members (no staff",
        "of theirs: 4 review candidates) and 3 event types (hence 23 services). A second run's time is",
        "dominated by moto serialising query results (its reads return every member).",
    ]


BOOKING_SERVICE, BOOKING_STAFF, CALCOM_LATENCY_MS = "177", "fabian-spitzer", 150
#: Issue 4's goals for one booking: time within 1.5 x one Cal.com round trip + 100 ms of our own
#: overhead; at most 6 DynamoDB calls.
GOAL_ROUND_TRIPS, GOAL_OVERHEAD_MS, GOAL_DYNAMODB_CALLS = 1.5, 100.0, 6


def calcom_round_trip_ms(company: Any, service_id: str = BOOKING_SERVICE) -> float:
    """One Cal.com round trip through our client at the stand-in's current latency: the median of
    5 reads of one of the service's event types."""
    wiring = importlib.import_module("calbridge.services.wiring")
    event_map = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
    entries = event_map.list(company.company_id, service_id)
    event_type = next(e.event_type_id for e in entries if e.event_type_id)
    calcom, round_trips = wiring.calcom_client(), []
    for _ in range(5):
        started = time.perf_counter()
        calcom.get_team_event_type(company.calcom_team_id, event_type)
        round_trips.append((time.perf_counter() - started) * 1000)
    return statistics.median(round_trips)


def booking_rows(stack: LocalStack, runs: int) -> tuple[list[str], dict[str, Any]]:
    """Book service 177 (4 segments) for Fabian `runs` times on distinct free starts through
    run_booking (StartSyncExecution on our real ASL, task Lambdas in-process), the stand-in's
    global latency at 150 ms. Per booking: wall time, Cal.com requests (the stand-in's request
    log), DynamoDB calls (at the botocore level; the StartSyncExecution call is Step Functions,
    not DynamoDB, and is not counted)."""
    wiring = importlib.import_module("calbridge.services.wiring")
    booking = importlib.import_module("calbridge.services.booking")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    company = store.CompanyRepository().get("salon-demo")
    service = store.ServiceRepository().get("salon-demo", BOOKING_SERVICE)
    availability = wiring.availability()
    control = httpx.Client(base_url=stack.calcom_url, timeout=30)

    # Distinct free starts, found before the clock starts (Cal.com without latency). The stand-in's
    # rate limit is off: this measures our time, not Cal.com's limiter.
    control.post("/_standin/rate-limit", json={"enabled": False}).raise_for_status()
    control.post("/_standin/latency", json={"ms": 0}).raise_for_status()
    starts, day = [], date.today() + timedelta(days=7)
    while len(starts) < runs + 1:  # one more: a warm-up booking, not counted (as time_requests)
        day += timedelta(days=1)
        free = availability.free_starts(company, service, [day], BOOKING_STAFF)
        starts += [option.start for option in free[:1]]

    control.post("/_standin/latency", json={"ms": CALCOM_LATENCY_MS}).raise_for_status()
    times, calcom_calls, per_booking = [], [], []
    warm_up = 0.0
    operations: Counter[str] = Counter()
    calcom_paths: Counter[str] = Counter()
    try:
        round_trip = calcom_round_trip_ms(company)
        for index, start in enumerate(starts):
            request = {
                "company_id": "salon-demo",
                "booking_id": f"bk_{uuid.uuid4().hex}",
                "service_id": BOOKING_SERVICE,
                "start": start.isoformat(),
                "staff_id": BOOKING_STAFF,
                "customer": {"name": "Bench Kunde", "phone": "+49 151 0000 0000"},
                "call_id": "call_bench",
            }
            control.delete("/_standin/requests").raise_for_status()
            with dynamodb_calls() as calls:
                started = time.perf_counter()
                outcome = booking.run_booking(request)
                times.append((time.perf_counter() - started) * 1000)
            if not outcome.booked:
                raise RuntimeError(f"bench booking at {start.isoformat()} failed: {outcome}")
            if index == 0:  # the warm-up: first use of the task handlers and the engine's paths
                warm_up = times.pop()
                continue
            served = [
                r
                for r in control.get("/_standin/requests").raise_for_status().json()
                if not r["path"].startswith("/_standin")
            ]
            calcom_calls.append(len(served))
            calcom_paths.update(f"{r['method']} {r['path'].split('?')[0]}" for r in served)
            per_booking.append(len(calls))
            operations.update(calls)
    finally:
        control.post("/_standin/latency", json={"ms": 0})
        control.post("/_standin/rate-limit", json={"enabled": True})
        control.close()

    p50, p95 = statistics.median(times), percentile(times, 95)
    goal_ms = GOAL_ROUND_TRIPS * round_trip + GOAL_OVERHEAD_MS
    per_booking_dynamodb = statistics.mean(per_booking)
    time_met, dynamodb_met = p50 <= goal_ms, max(per_booking) <= GOAL_DYNAMODB_CALLS
    n = len(times)
    by_operation = ", ".join(f"{op} {count / n:g}" for op, count in sorted(operations.items()))
    by_path = ", ".join(f"{path} {count / n:g}" for path, count in sorted(calcom_paths.items()))
    lines = [
        f"| booking service {BOOKING_SERVICE} (4 segments, pause policy {service.pause_policy.value}), "
        f"Cal.com latency {CALCOM_LATENCY_MS} ms, {n} bookings after a warm-up one | value | goal | met |",
        "|---|---|---|---|",
        f"| one Cal.com round trip through our client (median of 5) | {round_trip:.0f} ms | | |",
        f"| the warm-up booking (first use, not counted) | {warm_up:.0f} ms | | |",
        f"| end-to-end time, p50 | {p50:.0f} ms | ≤ {goal_ms:.0f} ms "
        f"(1.5 × {round_trip:.0f} + 100) | {'yes' if time_met else 'NO'} |",
        f"| end-to-end time, p95 | {p95:.0f} ms | ≤ {goal_ms:.0f} ms | {'yes' if p95 <= goal_ms else 'NO'} |",
        f"| Cal.com calls per booking | {statistics.mean(calcom_calls):g} | | |",
        f"| DynamoDB calls per booking | {per_booking_dynamodb:g} (max {max(per_booking)}) | "
        f"≤ {GOAL_DYNAMODB_CALLS} | {'yes' if dynamodb_met else 'NO'} |",
        "",
        f"Cal.com calls per booking: {by_path}.",
        "",
        f"DynamoDB calls per booking: {by_operation}.",
    ]
    summary = {"time_met": time_met, "dynamodb_met": dynamodb_met, "p50": p50, "goal_ms": goal_ms}
    return lines, summary


# ------------------------------------------------------------------ tool calls

WEBHOOK = "RetellWebhookFunction"
#: Issue 5's goal: check_availability answered from the slot cache in at most 50 ms of our own
#: time (p95, warm container).
GOAL_CACHED_AVAILABILITY_MS = 50.0
BENCH_PHONE = "+49 151 0000 0000"


@dataclass(frozen=True)
class ToolCase:
    """A row of the tool table: requests to the Retell webhook, after one warm-up request.

    `arguments(i)` gives request i's tool arguments and runs untimed before it (it may prepare
    state: empty the slot cache, book the appointment a cancel needs). `tool` None is the inbound
    webhook. `runs`: "requests" (--runs), "calcom" (every request waits on Cal.com:
    --calcom-runs) or "bookings" (every request books or changes an appointment: --booking-runs).
    """

    label: str
    tool: str | None
    arguments: Callable[[int], dict[str, Any]] = lambda _: {}
    runs: str = "requests"
    goal_ms: float | None = None  # for our overhead's p95


class ToolBench:
    """What the tool cases share: the stack's modules and free starts of a service (177 unless
    named) for Fabian, looked up before anything is timed, at most two a day so no request takes
    another's slot."""

    def __init__(self, stack: LocalStack, service_id: str = BOOKING_SERVICE) -> None:
        wiring = importlib.import_module("calbridge.services.wiring")
        store = importlib.import_module("calbridge.adapters.store.repositories")
        self.booking = importlib.import_module("calbridge.services.booking")
        self.slot_cache = importlib.import_module("calbridge.adapters.store.slot_cache")
        self.company = store.CompanyRepository().get("salon-demo")
        self.service = store.ServiceRepository().get("salon-demo", service_id)
        self.user_id = store.StaffRepository().get("salon-demo", BOOKING_STAFF).calcom_user_id
        event_map = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
        self.event_types = {e.event_type_id for e in event_map.list("salon-demo", service_id)}
        self.availability = wiring.availability()
        self.retell = RetellSimulator(stack.http_url)
        self._starts: list[datetime] = []
        self._day = date.today()

    def find_starts(self, count: int) -> None:
        while len(self._starts) < count:
            self._day += timedelta(days=1)
            free = self.availability.free_starts(self.company, self.service, [self._day], BOOKING_STAFF)
            if free:
                later = next((o for o in free if o.start >= free[0].plan.end), None)
                self._starts += [o.start for o in (free[0], later) if o is not None]

    def free_start(self) -> datetime:
        return self._starts.pop(0)

    def when(self, start: datetime, prefix: str = "") -> dict[str, str]:
        local = start.astimezone(self.company.zone)
        return {f"{prefix}date": local.date().isoformat(), f"{prefix}time": local.strftime("%H:%M")}

    def forget_day(self, start: datetime) -> None:
        """Delete the slot-cache entries of the service's event types for Fabian on the start's day."""
        day = start.astimezone(self.company.zone).date()
        for event_type in self.event_types:
            key = self.slot_cache.cache_key("salon-demo", event_type, self.user_id, day)
            self.slot_cache.SlotCacheRecord(key).delete()

    def booked_code(self) -> str:
        """An appointment of service 177 booked for the bench caller (untimed): its code."""
        outcome = self.booking.run_booking(
            {
                "company_id": "salon-demo",
                "booking_id": f"bk_{uuid.uuid4().hex}",
                "service_id": BOOKING_SERVICE,
                "start": self.free_start().isoformat(),
                "staff_id": BOOKING_STAFF,
                "customer": {"name": "Bench Kunde", "phone": BENCH_PHONE},
                "call_id": "call_bench",
            }
        )
        if not outcome.booked or outcome.appointment is None:
            raise RuntimeError(f"the bench could not book an appointment to change: {outcome}")
        return outcome.appointment.confirmation_code


def tool_cases(bench: ToolBench) -> list[ToolCase]:
    """Every request the table measures. A tool the webhook does not offer (yet) is left out."""
    asked = {"service": "Ansatzfärbung", "mitarbeiter": "Fabian", **bench.when(bench.free_start())}
    miss_start = bench.free_start()
    customer = {"customer_name": "Bench Kunde", "customer_phone": BENCH_PHONE}

    def miss(_: int) -> dict[str, Any]:
        bench.forget_day(miss_start)
        return {"service": "Ansatzfärbung", "mitarbeiter": "Fabian", **bench.when(miss_start)}

    return [
        ToolCase("POST /retell/inbound (routed)", None),
        ToolCase(
            "get_service_info (one service)", "get_service_info", lambda _: {"service": "Ansatzfärbung"}
        ),
        ToolCase("get_service_info (menu)", "get_service_info"),
        ToolCase("list_staff", "list_staff", lambda _: {"service": "Ansatzfärbung"}),
        ToolCase(
            "check_availability, slot cache hit",
            "check_availability",
            lambda _: asked,
            goal_ms=GOAL_CACHED_AVAILABILITY_MS,
        ),
        ToolCase("check_availability, slot cache miss", "check_availability", miss, runs="calcom"),
        ToolCase(
            "book_appointment (service 177)",
            "book_appointment",
            lambda _: (
                {"service": "Ansatzfärbung", "mitarbeiter": "Fabian", **customer}
                | bench.when(bench.free_start())
            ),
            runs="bookings",
        ),
        ToolCase(
            "cancel_appointment (by code)",
            "cancel_appointment",
            lambda _: {"confirmation_code": bench.booked_code()},
            runs="bookings",
        ),
        ToolCase(
            "reschedule_appointment (by code)",
            "reschedule_appointment",
            lambda _: {"confirmation_code": bench.booked_code(), **bench.when(bench.free_start(), "new_")},
            runs="bookings",
        ),
    ]


#: Free starts a request of these tools takes (the reschedule's appointment and its new time).
STARTS_PER_RUN = {"book_appointment": 1, "cancel_appointment": 1, "reschedule_appointment": 2}


def tool_rows(stack: LocalStack, args: argparse.Namespace) -> list[str]:
    """Per request to the Retell webhook, warm: the handler's time (RetellWebhookFunction's
    handler, in-process, so without the HTTP front), the time spent waiting on Cal.com (while
    at least one of our exchanges with the stand-in was open; it answers after 150 ms, like the
    booking section) and our overhead, the difference; Cal.com and DynamoDB calls per request
    (in every thread, so book_appointment counts the booking saga's task Lambdas too)."""
    function = stack.functions[WEBHOOK]
    offered = set(function.module.tool_calls.names)
    bench = ToolBench(stack)
    control = httpx.Client(base_url=stack.calcom_url, timeout=30)
    runs = {"requests": args.runs, "calcom": args.calcom_runs, "bookings": args.booking_runs}
    rows: list[str] = []
    # Slots are looked up at no latency and without the stand-in's rate limit (a bench of our
    # time, not of Cal.com's limiter); the measured requests then see the 150 ms.
    control.post("/_standin/rate-limit", json={"enabled": False}).raise_for_status()
    control.post("/_standin/latency", json={"ms": 0}).raise_for_status()
    original_handler = function.handler
    handler_ms: list[float] = []

    def timed_handler(event: Any, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_handler(event, context)
        finally:
            handler_ms.append((time.perf_counter() - started) * 1000)

    try:
        # The two availability cases' starts, then the bookings' (with their warm-up requests).
        per_run = sum(count for tool, count in STARTS_PER_RUN.items() if tool in offered)
        bench.find_starts(2 + (runs["bookings"] + 1) * per_run)
        cases = [c for c in tool_cases(bench) if c.tool is None or c.tool in offered]
        control.post("/_standin/latency", json={"ms": CALCOM_LATENCY_MS}).raise_for_status()
        function.handler = timed_handler
        for case in cases:
            rows.append(_tool_row(bench, case, runs[case.runs], handler_ms))
    finally:
        function.handler = original_handler
        control.post("/_standin/latency", json={"ms": 0})
        control.post("/_standin/rate-limit", json={"enabled": True})
        control.close()
        bench.retell.close()
    missing = sorted(set(STARTS_PER_RUN) - offered)
    return [
        f"| request to the Retell webhook, warm (Cal.com answering after {CALCOM_LATENCY_MS} ms) | runs "
        "| Cal.com calls | DynamoDB calls | handler p50 ms | handler p95 ms | our overhead p50 ms "
        "| our overhead p95 ms | goal (overhead p95) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Handler: RetellWebhookFunction's handler in-process (signature check, parsing, the tool, the "
        "answer), without the HTTP front. Our overhead: the handler's time minus the time at least one "
        "Cal.com exchange was open. Calls: per request, in every thread (book, cancel and reschedule "
        "include their state machine's task Lambdas)."
        + (f" Not offered by the webhook yet: {', '.join(missing)}." if missing else ""),
    ]


def _tool_row(bench: ToolBench, case: ToolCase, runs: int, handler_ms: list[float]) -> str:
    totals, overheads, calcom_calls, dynamodb_counts = [], [], [], []
    for index in range(runs + 1):  # request 0 warms the path up and is not counted
        arguments = case.arguments(index)
        call = {**CALL, "call_id": f"call_bench_{uuid.uuid4().hex}"}
        handler_ms.clear()
        with calcom_exchanges() as spans, dynamodb_calls() as calls:
            if case.tool is None:
                response = bench.retell.inbound(CALL["from_number"], CALL["to_number"])
            else:
                response = bench.retell.tool(case.tool, arguments, call)
        response.raise_for_status()
        if case.tool is not None and not response.json().get("success"):
            raise RuntimeError(f"{case.label}: the tool answered {response.json()}")
        if index == 0:
            continue
        (total,) = handler_ms
        totals.append(total)
        overheads.append(total - covered_ms(spans))
        calcom_calls.append(len(spans))
        dynamodb_counts.append(len(calls))
    p95 = percentile(overheads, 95)
    goal = (
        "" if case.goal_ms is None else f"≤ {case.goal_ms:.0f} ms: {'yes' if p95 <= case.goal_ms else 'NO'}"
    )
    return (
        f"| {case.label} | {runs} | {round(statistics.mean(calcom_calls), 1):g} "
        f"| {round(statistics.mean(dynamodb_counts), 1):g} "
        f"| {statistics.median(totals):.1f} | {percentile(totals, 95):.1f} "
        f"| {statistics.median(overheads):.1f} | {p95:.1f} | {goal} |"
    )


def host_rows(stack: LocalStack, args: argparse.Namespace) -> list[str]:
    rows = host_resolution_rows(args.runs)
    return [
        "| resolving a mapped host, warm container (in-process) | DynamoDB calls | p50 ms | p95 ms |",
        "|---|---|---|---|",
        *(f"| {name} | {calls:g} | {p50:.2f} | {p95:.2f} |" for name, calls, p50, p95 in rows),
    ]


#: Issue 11's goal for a cold start: importing a function's handler module within 400 ms (issue 5: 500).
GOAL_IMPORT_MS = 400.0


def import_rows(stack: LocalStack, args: argparse.Namespace) -> list[str]:
    """Every function of the template; functions sharing a CodeUri share the module (and figure)."""
    by_code = import_times_ms(runtime_python(), sorted(set(stack.code_uris.values())))
    return [
        f"| function (CodeUri) | cold import of the handler module, CPU ms (median of {IMPORT_REPEATS}, "
        f"Lambda's packages only, the layer precompiled as sam build ships it, tracing on as in Lambda) "
        f"| goal ≤ {GOAL_IMPORT_MS:.0f} ms |",
        "|---|---|---|",
        *(
            f"| {name} ({code_uri.rstrip('/')}) | {by_code[code_uri]:.0f} "
            f"| {'yes' if by_code[code_uri] <= GOAL_IMPORT_MS else 'NO'} |"
            for name, code_uri in sorted(stack.code_uris.items())
        ),
    ]


# ------------------------------------------------------------------ check_availability, worst case

AVAILABILITY_LATENCIES_MS = (150, 400)
AVAILABILITY_RUNS = 50  # at least, per latency (--calcom-runs when larger)
AVAILABILITY_SERVICE = "177"  # 4 segments: two event types to read per staff member (ADR 0016)
#: The fixture's Cal.com users of the demo salon's four staff members.
AVAILABILITY_STAFF = {
    "fabian-spitzer": 1420209,
    "emma-williams": 1420210,
    "lena-mueller": 1420211,
    "sara-oezdemir": 1420212,
}
#: Issue 11's goals for check_availability's worst case (day full or closed, no preference, 4 staff).
GOAL_AVAILABILITY_ROUND_TRIPS, GOAL_AVAILABILITY_OVERHEAD_MS, GOAL_AVAILABILITY_REQUESTS = 2, 100.0, 8


def availability_rows(stack: LocalStack, args: argparse.Namespace) -> list[str]:
    """check_availability's worst case through the HTTP front, signed as Retell signs: service 177
    performed by all four staff (linked to their Cal.com users, their event types provisioned, as
    the team sync does), no staff preference, a Monday the stand-in has fully booked, the slot
    cache emptied before every request (untimed). Per latency of the stand-in: the caller's wait
    (p50/p95, the whole request), Cal.com requests and DynamoDB calls per check (counted at our
    client and at the botocore level, in every thread), against the goals."""
    wiring = importlib.import_module("calbridge.services.wiring")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    staff_store, service_store = store.StaffRepository(), store.ServiceRepository()
    for staff_id, user_id in AVAILABILITY_STAFF.items():
        member = staff_store.get("salon-demo", staff_id)
        staff_store.save(member.model_copy(update={"calcom_user_id": user_id}))
    service = service_store.get("salon-demo", AVAILABILITY_SERVICE)
    service_store.save(service.model_copy(update={"staff_ids": list(AVAILABILITY_STAFF)}))
    report = wiring.event_type_provisioner().provision("salon-demo", repair=False, create_missing=True)
    if not report.ok:
        raise RuntimeError(f"the bench could not provision the staff's event types: {report.summary()}")
    wiring.clear_caches()
    company = store.CompanyRepository().get("salon-demo")

    # A Monday at least two days ahead, every staff member booked from 06:00 to 21:00 local.
    today = datetime.now(company.zone).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    monday += timedelta(days=7) if (monday - today).days < 2 else timedelta(0)
    day_start = datetime.combine(monday, datetime.min.time(), tzinfo=company.zone) + timedelta(hours=6)
    control = httpx.Client(base_url=stack.calcom_url, timeout=30)
    retell = RetellSimulator(stack.http_url)
    runs = max(args.calcom_runs, AVAILABILITY_RUNS)
    arguments = {"service": "Ansatzfärbung", "date": monday.isoformat(), "time": "11:00"}
    rows: list[str] = []
    control.post("/_standin/rate-limit", json={"enabled": False}).raise_for_status()
    try:
        for user_id in AVAILABILITY_STAFF.values():
            control.post(
                "/_standin/bookings",
                json={"start": day_start.isoformat(), "duration": 15 * 60, "host_user_id": user_id},
            ).raise_for_status()
        for latency in AVAILABILITY_LATENCIES_MS:
            control.post("/_standin/latency", json={"ms": latency}).raise_for_status()
            round_trip = calcom_round_trip_ms(company, AVAILABILITY_SERVICE)
            times, overheads, requests, dynamodb = [], [], [], []
            for index in range(runs + 1):  # request 0 warms the path up and is not counted
                empty_slot_cache()
                call = {**CALL, "call_id": f"call_bench_{uuid.uuid4().hex}"}
                with calcom_exchanges() as spans, dynamodb_calls() as calls:
                    started = time.perf_counter()
                    response = retell.tool("check_availability", arguments, call)
                    elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                answer = response.json()
                if answer.get("data", {}).get("available") is not False or not answer["data"].get(
                    "alternatives"
                ):
                    raise RuntimeError(
                        f"the worst case should offer alternatives, the tool answered {answer}"
                    )
                if index == 0:
                    continue
                times.append(elapsed)
                overheads.append(elapsed - covered_ms(spans))
                requests.append(len(spans))
                dynamodb.append(len(calls))
            p50, p95 = statistics.median(times), percentile(times, 95)
            goal_ms = GOAL_AVAILABILITY_ROUND_TRIPS * round_trip + GOAL_AVAILABILITY_OVERHEAD_MS
            requests_met = max(requests) <= GOAL_AVAILABILITY_REQUESTS
            rows.append(
                f"| {latency} ms | {runs} | {round_trip:.0f} | {p50:.0f} | {p95:.0f} "
                f"| {statistics.median(overheads):.0f} | {percentile(overheads, 95):.0f} "
                f"| ≤ {goal_ms:.0f} ({GOAL_AVAILABILITY_ROUND_TRIPS} × {round_trip:.0f} + "
                f"{GOAL_AVAILABILITY_OVERHEAD_MS:.0f}): p50 {'yes' if p50 <= goal_ms else 'NO'}, "
                f"p95 {'yes' if p95 <= goal_ms else 'NO'} "
                f"| {statistics.mean(requests):g} (max {max(requests)}) "
                f"| ≤ {GOAL_AVAILABILITY_REQUESTS}: {'yes' if requests_met else 'NO'} "
                f"| {statistics.mean(dynamodb):g} (max {max(dynamodb)}) |"
            )
    finally:
        control.post("/_standin/latency", json={"ms": 0})
        control.post("/_standin/rate-limit", json={"enabled": True})
        control.close()
        retell.close()
        reseed(stack)  # back to the demo salon as seeded: one linked staff member, no bookings
    return [
        f"| check_availability worst case: service {AVAILABILITY_SERVICE} (4 segments), 4 staff, no "
        "preference, the asked day fully booked, slot cache cold; Cal.com latency | runs "
        "| one Cal.com round trip ms (median of 5) | p50 ms | p95 ms | our time p50 ms | our time p95 ms "
        "| goal ms (met by p50, p95) | Cal.com requests per check | goal | DynamoDB calls per check |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Times: the whole request as the caller waits for it (the Retell simulator's signed POST through "
        "the HTTP front, signature check, the tool, Cal.com, the answer); our time: that minus the time "
        "at least one Cal.com exchange was open. The stand-in runs in the bench's process and checks "
        "every answer against Cal.com's contract, so its work on 8 parallel answers (a week of "
        "5-minute slots each for B) competes with ours for the interpreter and shows in both columns. "
        "Cal.com requests: our client's exchanges; DynamoDB calls: at the botocore level, in every "
        "thread. The asked day and the 7 after it are read in one round trip: per staff member one "
        "request for segment A's event type and one for B's, whose slots also answer for C and D "
        "(docs/adr/0016-availability-budget.md). Load average at "
        f"the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (p95 tails grow with it).",
    ]


# ------------------------------------------------------------------ the voice path: booking (issue 11)

VOICE_LATENCIES_MS = (150, 400)
VOICE_RUNS = 50  # at least, per row (--calcom-runs when larger)
BASELINE_RUNS = 9  # Retell's own two Cal.com functions, timed per latency (retell_functions_ms)
#: Issue 11's goals: a cold booking within 1.5 x one Cal.com round trip + 100 ms (p95); check +
#: book within 1.2 x the same two actions done with one Cal.com call each; our time on a slot
#: cache hit within 30 ms (p95); the DynamoDB calls of one book_appointment: GOAL_DYNAMODB_CALLS.
GOAL_BOOK_ROUND_TRIPS, GOAL_BOOK_OVERHEAD_MS = 1.5, 100.0
GOAL_CHECK_AND_BOOK_FACTOR, GOAL_HIT_OVERHEAD_MS = 1.2, 30.0
BOOKING_STATE_MACHINE = "BookingStateMachine"
#: What a warm container keeps for DIRECTORY_CACHE_S (wiring.config_reads, wiring.booking_reads):
#: a request that reads one of these tables refreshed the cache.
CACHED_TABLES = ("CompaniesTable", "StaffTable", "ServicesTable", "HostMappingsTable", "EventMapTable")


@dataclass
class VoiceSamples:
    """One row's measurements: per sample the caller's wait, our time (that minus the time a Cal.com
    exchange was open), Cal.com requests and DynamoDB calls; the book requests' DynamoDB operations
    and, for cold bookings, how long each workflow state took."""

    times: list[float]
    ours: list[float]
    calcom: list[int]
    dynamodb: list[int]
    book_ours: list[float]
    book_dynamodb: list[int]
    refreshed: list[bool]  # the book request read a table the container caches (its TTL ran out)
    operations: Counter[str]
    phases: dict[str, list[float]]

    @classmethod
    def empty(cls) -> VoiceSamples:
        return cls([], [], [], [], [], [], [], Counter(), {})


@dataclass(frozen=True)
class VoiceCase:
    """A row of the voice table: `check` first (the slot cache then knows the day), or a cold book;
    of service 177 (four holds) unless `service_id` names another (as the caller says it: `spoken`)."""

    label: str
    mitarbeiter: str | None
    check: bool = False
    service_id: str = BOOKING_SERVICE
    spoken: str = "Ansatzfärbung"


VOICE_CASES = (
    VoiceCase("book_appointment, Fabian named, slot cache cold", "Fabian"),
    VoiceCase("book_appointment, no preference, slot cache cold", None),
    VoiceCase("check_availability (cold) + book_appointment of the time offered, one call", None, check=True),
    VoiceCase(
        "check_availability (cold) + book_appointment, one call, simple service 41 (one hold)",
        None,
        check=True,
        service_id="41",
        spoken="Damenhaarschnitt",
    ),
)


def _moment(timestamp: Any) -> float:
    """A history event's timestamp (moto writes ISO 8601 with milliseconds) as epoch seconds."""
    if isinstance(timestamp, datetime):
        return timestamp.timestamp()
    return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()


def workflow_phases(history: list[dict[str, Any]], sent: float, answered: float) -> dict[str, float]:
    """Where one booking request's time went, ms: before the workflow started (HTTP front,
    signature, the tool layer's reads, plan and once-only record), each state of the workflow (first
    entered to last exited: the Map's iterations overlap), after it ended (the answer, the once-only
    completion, the HTTP front). `sent`/`answered`: the request's epoch seconds."""
    entered: dict[str, float] = {}
    exited: dict[str, float] = {}
    started = ended = None
    for event in history:
        at = _moment(event["timestamp"])
        if event["type"] == "ExecutionStarted":
            started = at
        elif event["type"] in ("ExecutionSucceeded", "ExecutionFailed"):
            ended = at
        elif "stateEnteredEventDetails" in event:
            entered.setdefault(event["stateEnteredEventDetails"]["name"], at)
        elif "stateExitedEventDetails" in event:
            exited[event["stateExitedEventDetails"]["name"]] = at
    if started is None or ended is None:
        return {}
    phases = {"before the workflow (front, tool layer)": (started - sent) * 1000}
    phases |= {name: (exited[name] - at) * 1000 for name, at in entered.items() if name in exited}
    phases["after the workflow (answer, front)"] = (answered - ended) * 1000
    return phases


def _voice_block(
    stack: LocalStack, case: VoiceCase, latency: int, runs: int
) -> tuple[float, tuple[float, float] | None, VoiceSamples]:
    """`runs` requests (plus an uncounted warm-up) of one case at one Cal.com latency, from the demo
    salon as seeded: the stand-in's round trip, for a check + book case what Retell's own two
    Cal.com functions take (retell_functions_ms), and the samples."""
    reseed(stack)  # every block starts from the seed: no bookings, so every start is free
    control = httpx.Client(base_url=stack.calcom_url, timeout=30)
    control.post("/_standin/rate-limit", json={"enabled": False}).raise_for_status()
    control.post("/_standin/latency", json={"ms": 0}).raise_for_status()
    bench = ToolBench(stack, case.service_id)
    samples = VoiceSamples.empty()
    try:
        baseline_runs = BASELINE_RUNS if case.check else 0
        bench.find_starts(runs + 1 + baseline_runs)  # distinct free starts, looked up untimed at no latency
        control.post("/_standin/latency", json={"ms": latency}).raise_for_status()
        round_trip = calcom_round_trip_ms(bench.company)
        baseline_starts = [bench.free_start() for _ in range(baseline_runs)]
        retell = retell_functions_ms(bench, baseline_starts) if case.check else None
        customer = {"customer_name": "Bench Kunde", "customer_phone": BENCH_PHONE}
        staff = {"mitarbeiter": case.mitarbeiter} if case.mitarbeiter else {}
        for index in range(runs + 1):  # request 0 warms the path up and is not counted
            asked = {"service": case.spoken, **staff, **bench.when(bench.free_start())}
            call = {**CALL, "call_id": f"call_bench_{uuid.uuid4().hex}"}
            empty_slot_cache()
            tables: list[str] = []
            with calcom_exchanges() as spans, dynamodb_calls(tables) as calls:
                started = time.perf_counter()
                if case.check:
                    checked = bench.retell.tool("check_availability", asked, call).raise_for_status().json()
                    if not checked.get("data", {}).get("available"):
                        raise RuntimeError(f"{case.label}: the check found the free start taken: {checked}")
                    offered = datetime.fromisoformat(checked["data"]["start"])
                    asked = {"service": case.spoken, **staff, **bench.when(offered)}
                check_calls, check_spans, check_tables = len(calls), len(spans), len(tables)
                book_started, sent = time.perf_counter(), time.time()
                response = bench.retell.tool("book_appointment", asked | customer, call)
                answered = time.time()
                elapsed = (time.perf_counter() - started) * 1000
            answer = response.raise_for_status().json()
            if not answer.get("data", {}).get("booked"):
                raise RuntimeError(f"{case.label}: the tool did not book {asked}: {answer}")
            if index == 0:
                continue
            book_spans = [span for span in spans[check_spans:] if span[0] >= book_started]
            book_ms = (answered - sent) * 1000
            samples.times.append(elapsed)
            samples.ours.append(elapsed - covered_ms(spans))
            samples.calcom.append(len(spans))
            samples.dynamodb.append(len(calls))
            samples.book_ours.append(book_ms - covered_ms(book_spans))
            samples.book_dynamodb.append(len(calls) - check_calls)
            samples.refreshed.append(any(t in name for name in tables[check_tables:] for t in CACHED_TABLES))
            samples.operations.update(calls[check_calls:])
            if not case.check:
                history = stack.last_express_history(BOOKING_STATE_MACHINE)
                for phase, ms in workflow_phases(history, sent, answered).items():
                    samples.phases.setdefault(phase, []).append(ms)
    finally:
        control.post("/_standin/latency", json={"ms": 0})
        control.post("/_standin/rate-limit", json={"enabled": True})
        control.close()
        bench.retell.close()
    return round_trip, retell, samples


def retell_functions_ms(bench: ToolBench, starts: list[datetime]) -> tuple[float, float]:
    """What Retell's own Cal.com functions would make the caller wait for the same two actions, at
    the stand-in's current latency: Check Availability is one `GET /v2/slots` of one event type
    for the asked day, Book Appointment one `POST /v2/bookings` (docs.retellai.com/integrations/
    cal-com-functions: "each pinned to one event type"). Through our client, the medians of one
    request each per start (Fabian's event type of the bench service's first hold, at free
    `starts`); each booking is cancelled again, untimed."""
    event_types = importlib.import_module("calbridge.domain.event_types")
    planning = importlib.import_module("calbridge.domain.planning")
    models = importlib.import_module("calbridge.adapters.calcom.models")
    event_map = importlib.import_module("calbridge.adapters.store.event_map").EventMapRepository()
    calcom = importlib.import_module("calbridge.services.wiring").calcom_client()
    entries = event_types.index_event_map(event_map.list("salon-demo", bench.service.service_id))
    zone, slots_ms, booking_ms = bench.company.zone, [], []
    for start in starts:
        hold = planning.plan_service(bench.service, start).holds[0]
        event_type = event_types.event_type_for(hold, bench.service, entries, bench.user_id)
        midnight = datetime.combine(start.astimezone(zone).date(), datetime.min.time(), zone)
        started = time.perf_counter()
        calcom.get_slots(event_type, midnight, midnight + timedelta(days=1), bench.company.timezone)
        slots_ms.append((time.perf_counter() - started) * 1000)
        attendee = models.AttendeeInput(name="Bench Kunde", phone_number="+4915100000000", time_zone="UTC")
        started = time.perf_counter()
        booking = calcom.create_booking(
            models.CreateBookingRequest(start=hold.start, event_type_id=event_type, attendee=attendee)
        )
        booking_ms.append((time.perf_counter() - started) * 1000)
        calcom.cancel_booking(booking.uid, "bench baseline")
    return statistics.median(slots_ms), statistics.median(booking_ms)


def _met(value: float, goal: float) -> str:
    return "yes" if value <= goal else "NO"


def _cached_checks(stack: LocalStack, runs: int) -> tuple[list[float], list[int]]:
    """check_availability of one free start, answered from the slot cache a warm-up check filled:
    per request the whole request's time (no Cal.com exchange) and its DynamoDB calls."""
    reseed(stack)
    control = httpx.Client(base_url=stack.calcom_url, timeout=30)
    control.post("/_standin/rate-limit", json={"enabled": False}).raise_for_status()
    control.post("/_standin/latency", json={"ms": 0}).raise_for_status()
    bench = ToolBench(stack)
    times, dynamodb = [], []
    try:
        bench.find_starts(1)
        asked = {"service": "Ansatzfärbung", **bench.when(bench.free_start())}
        for index in range(runs + 1):  # request 0 fills the slot cache and is not counted
            call = {**CALL, "call_id": f"call_bench_{uuid.uuid4().hex}"}
            with calcom_exchanges() as spans, dynamodb_calls() as calls:
                started = time.perf_counter()
                answer = bench.retell.tool("check_availability", asked, call).raise_for_status().json()
                elapsed = (time.perf_counter() - started) * 1000
            if not answer.get("data", {}).get("available"):
                raise RuntimeError(f"the cached check found the free start taken: {answer}")
            if index == 0:
                continue
            if spans:
                raise RuntimeError("a check answered from the slot cache asked Cal.com")
            times.append(elapsed)
            dynamodb.append(len(calls))
    finally:
        control.post("/_standin/rate-limit", json={"enabled": True})
        control.close()
        bench.retell.close()
    return times, dynamodb


def _hit_row(label: str, latency: str, ours: list[float], dynamodb: list[int]) -> str:
    p95 = percentile(ours, 95)
    return (
        f"| {label} | {latency} | {len(ours)} | {statistics.median(ours):.0f} | {p95:.0f} "
        f"| {_met(p95, GOAL_HIT_OVERHEAD_MS)} | {statistics.mean(dynamodb):.2f} (max {max(dynamodb)}) |"
    )


def voice_rows(stack: LocalStack, args: argparse.Namespace) -> list[str]:
    """Issue 11's booking goals through the HTTP front, signed as Retell signs, at 150 and 400 ms
    of Cal.com latency, the stand-in's rate limit off: book_appointment of service 177 (4 holds)
    with a cold slot cache, with Fabian named and without a preference (the seed links only
    Fabian, so he is the first choice either way), and check_availability + book_appointment of
    the time the check offered in one call. Every request at its own free start; the slot cache
    emptied before each (untimed). Per row: the caller's wait (p50/p95), our time, Cal.com
    requests and DynamoDB calls (botocore level, every thread); the DynamoDB calls of the
    book_appointment requests by operation; where a cold booking's time goes (workflow states
    from the execution history)."""
    runs = max(args.calcom_runs, VOICE_RUNS)
    rows, operations, phases = [], {}, {}
    hits = [
        _hit_row(
            "check_availability answered from the slot cache (no Cal.com)",
            "any",
            *_cached_checks(stack, runs),
        )
    ]
    for latency in VOICE_LATENCIES_MS:
        for case in VOICE_CASES:
            round_trip, retell, samples = _voice_block(stack, case, latency, runs)
            p50, p95 = statistics.median(samples.times), percentile(samples.times, 95)
            if retell is not None:
                goal_ms = GOAL_CHECK_AND_BOOK_FACTOR * sum(retell)
                formula = f"{GOAL_CHECK_AND_BOOK_FACTOR:g} × ({retell[0]:.0f} + {retell[1]:.0f})"
                hits.append(
                    _hit_row(
                        f"book_appointment of service {case.service_id} after the check (its first "
                        "choice from the cache the check filled; the request minus the creates' Cal.com "
                        "time)",
                        f"{latency} ms",
                        samples.book_ours,
                        samples.book_dynamodb,
                    )
                )
            else:
                goal_ms = GOAL_BOOK_ROUND_TRIPS * round_trip + GOAL_BOOK_OVERHEAD_MS
                formula = f"{GOAL_BOOK_ROUND_TRIPS:g} × {round_trip:.0f} + {GOAL_BOOK_OVERHEAD_MS:.0f}"
                phases[(latency, case.label)] = samples.phases
            most = max(samples.book_dynamodb)
            steady = [
                n
                for n, refreshed in zip(samples.book_dynamodb, samples.refreshed, strict=True)
                if not refreshed
            ]
            refreshes = sum(samples.refreshed)
            rows.append(
                f"| {case.label} | {latency} ms | {len(samples.times)} | {round_trip:.0f} | {p50:.0f} "
                f"| {p95:.0f} | ≤ {goal_ms:.0f} ({formula}): p50 {_met(p50, goal_ms)}, "
                f"p95 {_met(p95, goal_ms)} | {statistics.median(samples.ours):.0f} "
                f"| {percentile(samples.ours, 95):.0f} "
                f"| {statistics.mean(samples.calcom):g} (max {max(samples.calcom)}) "
                f"| {statistics.mean(samples.book_dynamodb):.2f} (max {most}; "
                f"{refreshes} refreshed the 30 s cache, the others max {max(steady, default=0)}): "
                f"≤ {GOAL_DYNAMODB_CALLS} {_met(most, GOAL_DYNAMODB_CALLS)} "
                f"| {statistics.mean(samples.dynamodb):.2f} |"
            )
            per_case = operations.setdefault(case.label, Counter())
            per_case.update({op: count / len(samples.times) for op, count in samples.operations.items()})
    reseed(stack)  # back to the demo salon as seeded
    by_operation = [
        f"- {label}: "
        + ", ".join(f"{op} {count / len(VOICE_LATENCIES_MS):.2g}" for op, count in sorted(counts.items()))
        for label, counts in operations.items()
    ]
    names = list(dict.fromkeys(name for samples in phases.values() for name in samples))
    profile = [
        "| where a cold booking's time goes, ms (p50) | "
        + " | ".join(f"{label.split(',')[1].strip()}, {latency} ms" for latency, label in phases)
        + " |",
        "|---|" + "---|" * len(phases),
        *(
            f"| {name} | "
            + " | ".join(
                f"{statistics.median(samples[name]):.0f}" if samples.get(name) else ""
                for samples in phases.values()
            )
            + " |"
            for name in names
        ),
    ]
    return [
        "| request(s), service 177 (4 holds) unless named, through the HTTP front | Cal.com latency | runs "
        "| one Cal.com round trip ms (median of 5) | p50 ms | p95 ms | goal ms (met by p50, p95) "
        "| our time p50 ms | our time p95 ms "
        "| Cal.com requests | DynamoDB calls per book_appointment (goal) | DynamoDB calls, all requests |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"| our time on a slot cache hit, goal p95 ≤ {GOAL_HIT_OVERHEAD_MS:.0f} ms | Cal.com latency | runs "
        "| p50 ms | p95 ms | met | DynamoDB calls |",
        "|---|---|---|---|---|---|---|",
        *hits,
        "",
        "DynamoDB calls per book_appointment request, by operation (mean over both latencies):",
        "",
        *by_operation,
        "",
        *profile,
        "",
        "Times: the whole request(s) as the caller waits (the Retell simulator's signed POST through the "
        "HTTP front, signature check, the tool layer, the booking workflow on moto's engine with its task "
        "Lambdas in-process, Cal.com, the answer); check + book are timed together, one call id, against "
        f"{GOAL_CHECK_AND_BOOK_FACTOR:g} × what Retell's own Cal.com functions take for the same two actions "
        "(one GET /v2/slots of the first hold's event type for the asked day + one POST /v2/bookings, "
        f"medians of {BASELINE_RUNS}, through our client at the same latency). Our "
        "time: that minus the time at least one Cal.com exchange was open. On a slot cache hit: a "
        "check answered from the cache (no Cal.com: the whole request) and the book_appointment after "
        "a check (its first choice from the cache the check filled; its four creates still go to "
        "Cal.com and their time is subtracted). "
        "Cal.com requests: our client's exchanges; DynamoDB calls: botocore's, every thread (the "
        "idempotency records through Powertools' boto3 client included). The workflow states: first "
        "entered to last exited in the execution history (LocalStack.last_express_history, moto's "
        "millisecond timestamps); ReserveHold spans the Map's four parallel iterations. The stand-in "
        "runs in the bench's process and shares its interpreter. Load average at the end of the run: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (p95 tails grow with it).",
    ]


#: The sections, in report order: name -> what measures them and gives their table's lines.
def console_rows(stack: LocalStack, args: argparse.Namespace) -> list[str]:
    """What the console's browser waits for, through the HTTP front: the page and a revalidated
    file (ConsoleFunction), and the API behind the JWT authorizer (token verified, company scoped),
    with the DynamoDB calls each answer costs (warm containers)."""
    from local.console_client import console_api
    from local.seed import CONSOLE_PASSWORD, seed_console_users_and_sync

    seed_console_users_and_sync(stack)
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
    page = httpx.Client(base_url=stack.http_url, timeout=30)
    etag = page.get("/console/app.js").headers["etag"]
    api = console_api(stack.http_url, "admin@salon-demo.example", CONSOLE_PASSWORD)
    company = "/companies/salon-demo"
    cases: list[tuple[str, Callable[[], httpx.Response], int]] = [
        ("`GET /console` (the page)", lambda: page.get("/console"), 200),
        (
            "`GET /console/app.js`, revalidated (ETag)",
            lambda: page.get("/console/app.js", headers={"if-none-match": etag}),
            304,
        ),
        ("`GET api/me`", lambda: api.get("/me"), 200),
        ("`GET api/…/review-candidates` (2 waiting)", lambda: api.get(f"{company}/review-candidates"), 200),
        ("`GET api/…/services` (6, with event types)", lambda: api.get(f"{company}/services"), 200),
        (
            "`GET api/…/appointments?date=` (today)",
            lambda: api.get(f"{company}/appointments", params={"date": today}),
            200,
        ),
        (
            "`GET api/companies/<another>/staff` (refused: 403)",
            lambda: api.get("/companies/other/staff"),
            403,
        ),
    ]
    rows = [
        f"| console request, through the HTTP front (warm, {args.runs} runs) "
        "| DynamoDB calls | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    try:
        for name, send, status in cases:
            assert send().status_code == status, name  # warm, and the answer is what the page gets
            times, counts = [], []
            for _ in range(args.runs):
                with dynamodb_calls() as calls:
                    started = time.perf_counter()
                    answer = send()
                    times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == status, (name, answer.status_code)
                counts.append(len(calls))
            p50, p95 = percentile(times, 50), percentile(times, 95)
            rows.append(f"| {name} | {statistics.median(counts):g} | {p50:.2f} | {p95:.2f} |")
    finally:
        page.close()
        api.close()
    return rows


SECTIONS: dict[str, Callable[[LocalStack, argparse.Namespace], list[str]]] = {
    "tools": tool_rows,
    "hosts": host_rows,
    "booking": lambda stack, args: booking_rows(stack, args.booking_runs)[0],
    "sync": lambda stack, args: team_sync_rows(stack),
    "imports": import_rows,
    "availability": availability_rows,
    "voice": voice_rows,
    "console": console_rows,
}
RESULTS_INTRO = """# Benchmarks

`make bench` (`python -m local.bench [SECTION ...]`) measures on the local stack and rewrites the
tables between the `bench:` markers below; the text around them is kept. Times include moto's
DynamoDB (in this process, over HTTP), so they are an upper bound of our own overhead; AWS adds
API Gateway and network latency.
"""


def write_results(tables: dict[str, list[str]], args: argparse.Namespace) -> None:
    """Replace each measured section's block in docs/benchmarks.md (a new section is appended)."""
    for name, lines in tables.items():
        command = (
            f"python -m local.bench {name} --runs {args.runs} --calcom-runs {args.calcom_runs} "
            f"--booking-runs {args.booking_runs}"
        )
        write_block(name, command, lines)


@contextlib.contextmanager
def measured_demo_stack(env: dict[str, str]) -> Iterator[LocalStack]:
    """The demo salon's local stack for a measurement (the bench, the load test). The handlers'
    JSON logs and metrics go to stdout as in Lambda: kept out of the report. Cal.com's webhooks
    reach another function in AWS; here their deliveries would share the interpreter with what is
    timed (and add their DynamoDB calls to the counts): not subscribed."""
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        LocalStack(
            REPO / "template.yaml", http_port=0, standin_fixture=DEMO_FIXTURE, seed=seed_demo, env=env
        ) as stack,
    ):
        stack.standin.app.webhooks.clear(keep_static=False)
        yield stack


def write_block(name: str, command: str, lines: list[str]) -> None:
    """Replace the block between docs/benchmarks.md's `bench:NAME` markers (appended when new) with
    `lines` under a stamp: the date, this machine and the `command` that measured them (make load
    writes its block through this too)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_INTRO
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    stamp = f"Last run: {time.strftime('%Y-%m-%d')}, {machine}; `{command}`."
    block = "\n".join([f"<!-- bench:{name} -->", stamp, "", *lines, f"<!-- /bench:{name} -->"])
    found = re.search(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", text, re.DOTALL)
    text = (
        f"{text[: found.start()]}{block}{text[found.end() :]}" if found else f"{text.rstrip()}\n\n{block}\n"
    )
    RESULTS.write_text(text, encoding="utf-8")


#: Our shared Cal.com rate limit (ADR 0027) lifted far above what the bench sends: every request
#: still takes its permits (their DynamoDB calls are counted) but none waits, as the stand-in's own
#: limiter is off where latency is timed. The team sync's section keeps its own Pacer.
BENCH_RATE_LIMIT = {"CALCOM_RATE_LIMIT": "10000", "CALCOM_RATE_BURST": "1000"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(SECTIONS)}")
    parser.add_argument("--runs", type=int, default=200, help="requests per row that need no Cal.com")
    parser.add_argument("--calcom-runs", type=int, default=30, help="requests per row that wait on Cal.com")
    parser.add_argument("--booking-runs", type=int, default=10, help="bookings (and changes) to time")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    selected = [name for name in SECTIONS if name in args.sections] if args.sections else list(SECTIONS)

    tables: dict[str, list[str]] = {}
    with measured_demo_stack(BENCH_RATE_LIMIT) as stack:
        for name in selected:
            tables[name] = SECTIONS[name](stack, args)
    print("\n\n".join("\n".join(lines) for lines in tables.values()))
    if not args.no_write:
        write_results(tables, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
