"""`make load`: many callers at once on the local stack, against Cal.com's per-key rate limit.

    python -m local.load [--callers N] [--seconds S] [--no-write]      (or LOAD_CALLERS, LOAD_SECONDS)

N callers (default 20) call at once for S seconds (default 60): each call is a check_availability
of a day followed by a book_appointment of the first start it offered, signed as Retell signs
them, through the HTTP front; a caller starts its next call as soon as one ends. The Cal.com
stand-in runs with Cal.com's limiter on (120 requests a minute per key, the request over it blocks
the key for 60 s: docs/reference/calcom.md §1.3) and calbridge with the template's own shared rate
limit (ADR 0027), so what one key carries is measured, not what the machine does.

Before the clock starts the demo salon's other three staff members get their Cal.com hosts linked
over the admin API (as an admin would: their booking event types are provisioned), so callers
book four people. Each call takes a lane of its own, a staff member on a working day of theirs,
never shared with a call in flight, alternating a simple service and a composite one: no caller
takes another's slot, so every refusal comes from the load. "Today" is pinned as in the tests
(CALBRIDGE_TEST_NOW, default the tests' Tuesday), so the lanes and the numbers do not depend on
the real date.

The report: throughput (tool calls a second, bookings a minute), p50/p95 per tool as the caller
waits, the answers per tool and which of them are errors we did not expect, the Cal.com requests
the stand-in received (by endpoint and status, 429s, the busiest 60 s) per booking and per check,
and the DynamoDB calls per tool call (local.bench's counting); then a check of the outcome: every
booked appointment stored once, each hold one active Cal.com booking, no Cal.com booking of ours
without its appointment. The table replaces the `bench:load` block of docs/benchmarks.md.
`run_load(stack, callers, seconds)` runs the same on a running stack (the e2e test, a few seconds).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from local.bench import REPO, dynamodb_calls, measured_demo_stack, percentile, write_block
from local.retell_sim import RetellSimulator
from local.seed import DEMO_FIXTURE
from local.stack import LocalStack
from local.template import load_template

CALLERS, SECONDS = 20, 60.0
#: The tests' pinned "today" (tests/conftest.py TEST_NOW): a Tuesday morning in Berlin's winter.
DEFAULT_NOW = "2026-03-10T08:00:00+01:00"
COMPANY, BRANCH, NUMBER = "salon-demo", "berlin-mitte", "+4930123456789"
ADMIN_IDENTITY = {"x-calbridge-local-identity": "calbridge-load-test"}
#: The demo staff's Cal.com users (local/fixtures/salon_demo.json). The seed links Fabian only; the
#: others are linked over the admin API before the load starts.
CALCOM_USERS = {
    "fabian-spitzer": 1420209,
    "emma-williams": 1420210,
    "lena-mueller": 1420211,
    "sara-oezdemir": 1420212,
}
#: Per staff member a simple service and a composite one (Emma has none), as the caller names them.
SERVICES = {
    "fabian-spitzer": ("Föhnen", "Ansatzfärbung"),
    "emma-williams": ("Föhnen", "Kinderhaarschnitt"),
    "lena-mueller": ("Föhnen", "Ansatzfärbung"),
    "sara-oezdemir": ("Föhnen", "Herrenhaarschnitt"),
}
#: The demo salon's booking window (the company's default, domain/models.py): no lane lies beyond it.
BOOKING_WINDOW_DAYS = 60
#: API Gateway's HTTP API answers 504 after 30 s: the longest a caller can wait in AWS.
GATEWAY_TIMEOUT_S = 30.0
#: Honest answers a caller may hear under load: the call went as asked, or "not now" (the calendar
#: unavailable because the key's budget is spent, the booking still running when Retell would ask
#: again, the booking kept for the salon to confirm). Anything else is an unexpected error.
ANSWERED = {"available", "taken", "booked", "pending"}
NOT_NOW = {"calendar_unavailable", "booking_failed", "in_progress"}
#: The template's Cal.com rate limit (its Globals), in place of the local stack's looser one.
RATE_SETTINGS = ("CALCOM_RATE_LIMIT", "CALCOM_RATE_BURST", "CALCOM_RATE_BATCH", "CALCOM_RATE_WAIT_S")


@dataclass(frozen=True)
class Lane:
    """What one call asks for: a staff member on a day, and the service."""

    staff_id: str
    first_name: str
    day: date
    service: str


@cache
def demo_fixture() -> dict[str, Any]:
    return json.loads(DEMO_FIXTURE.read_text(encoding="utf-8"))


def lanes(today: date) -> Iterator[Lane]:
    """Every staff member on each of their working days (the stand-in's working hours) from the
    day after tomorrow to the end of the booking window, day by day, their two services
    alternating; then again from the start (the days' later starts)."""
    fixture = demo_fixture()
    names = {member["staff_id"]: member["name"].split()[0] for member in fixture["staff"]}
    workdays = {
        member["user_id"]: {day for hours in member["working_hours"] for day in hours["days"]}
        for member in fixture["calcom"]["members"]
    }
    all_lanes, taken = [], Counter()
    for offset in range(2, BOOKING_WINDOW_DAYS):
        day = today + timedelta(days=offset)
        for staff_id, user_id in CALCOM_USERS.items():
            if (day.weekday() + 1) % 7 in workdays[user_id]:  # Cal.com's days: 0 is Sunday
                service = SERVICES[staff_id][taken[staff_id] % 2]
                taken[staff_id] += 1
                all_lanes.append(Lane(staff_id, names[staff_id], day, service))
    return itertools.cycle(all_lanes)


@dataclass
class Sample:
    tool: str
    seconds: float
    kind: str
    appointment_id: str | None = None
    detail: str = ""  # what the caller heard, kept when it is no plain answer


def answer_kind(response: httpx.Response) -> str:
    """What the caller heard: booked, pending, available, taken (alternatives offered), the tool's
    error code, or `http <status>` when the webhook did not answer 200."""
    if response.status_code != 200:
        return f"http {response.status_code}"
    data = response.json().get("data") or {}
    if data.get("booked") is True:
        return "booked"
    if data.get("pending") is True:
        return "pending"
    if "error" in data:
        return str(data["error"])
    return "available" if data.get("available") and (data.get("starts") or data.get("start")) else "taken"


@dataclass
class LoadReport:
    callers: int
    seconds: float
    elapsed_s: float
    samples: list[Sample]
    calcom: list[dict[str, Any]]  # the stand-in's request log of the run
    dynamodb: int
    problems: list[str] = field(default_factory=list)  # the outcome's check: empty when sound

    def of(self, tool: str) -> list[Sample]:
        return [s for s in self.samples if s.tool == tool]

    @property
    def bookings(self) -> int:
        return sum(1 for s in self.samples if s.kind == "booked")

    @property
    def calls_per_s(self) -> float:
        return len(self.samples) / self.elapsed_s

    @property
    def bookings_per_min(self) -> float:
        return self.bookings / self.elapsed_s * 60

    @property
    def kinds(self) -> dict[str, Counter[str]]:
        return {
            tool: Counter(s.kind for s in self.of(tool))
            for tool in ("check_availability", "book_appointment")
        }

    @property
    def unexpected(self) -> Counter[str]:
        return Counter(f"{s.tool}: {s.kind}" for s in self.samples if s.kind not in ANSWERED | NOT_NOW)

    def example(self, kind: str) -> str:
        """What a caller heard who got `kind` (the tool's arguments and its answer)."""
        return next((s.detail for s in self.samples if s.kind == kind), "")

    @property
    def endpoints(self) -> Counter[str]:
        return Counter(f"{entry['method']} {endpoint(entry['path'])}" for entry in self.calcom)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(entry["status"] for entry in self.calcom)

    @property
    def busiest_60s(self) -> int:
        arrived = sorted(datetime.fromisoformat(entry["time"]).timestamp() for entry in self.calcom)
        return max((sum(1 for t in arrived if start <= t < start + 60.0) for start in arrived), default=0)

    @property
    def slot_reads_per_check(self) -> float:
        checks = len(self.of("check_availability"))
        return self.endpoints["GET /v2/slots"] / checks if checks else 0.0

    @property
    def calcom_per_booking(self) -> float:
        return len(self.calcom) / self.bookings if self.bookings else float("inf")

    @property
    def dynamodb_per_call(self) -> float:
        return self.dynamodb / len(self.samples) if self.samples else 0.0

    def latency_ms(self, tool: str) -> tuple[float, float]:
        times = [s.seconds * 1000 for s in self.of(tool)]
        return (statistics.median(times), percentile(times, 95)) if times else (0.0, 0.0)

    def lines(self) -> list[str]:
        """The report as docs/benchmarks.md shows it."""
        rows = []
        for tool, kinds in self.kinds.items():
            p50, p95 = self.latency_ms(tool)
            answers = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
            rows.append(f"| {tool} | {sum(kinds.values())} | {p50:.0f} | {p95:.0f} | {answers} |")
        by_endpoint = ", ".join(f"{name} {count}" for name, count in sorted(self.endpoints.items()))
        statuses = ", ".join(f"{status} {count}" for status, count in sorted(self.statuses.items(), key=str))
        unexpected = ", ".join(f"{kind} {count}" for kind, count in self.unexpected.items()) or "none"
        return [
            f"| {self.callers} callers, {self.seconds:g} s | value |",
            "|---|---|",
            f"| run (calls start within {self.seconds:g} s, to the last answer) | {self.elapsed_s:.1f} s |",
            f"| tool calls | {len(self.samples)} ({self.calls_per_s:.2f}/s) |",
            f"| bookings | {self.bookings} ({self.bookings_per_min:.1f}/min) |",
            f"| unexpected errors | {unexpected} |",
            f"| Cal.com requests received (stand-in log) | {len(self.calcom)}: {by_endpoint} |",
            f"| their statuses | {statuses} (429: {self.statuses[429]}) |",
            f"| Cal.com requests in the busiest 60 s | {self.busiest_60s} |",
            f"| Cal.com requests per booking (all of the run's / bookings) | {self.calcom_per_booking:.2f} |",
            f"| slot reads per check (GET /v2/slots / checks) | {self.slot_reads_per_check:.2f} |",
            f"| DynamoDB calls per tool call (every thread) | {self.dynamodb_per_call:.1f} |",
            f"| outcome check (stored once, one Cal.com booking per hold, no orphan) | "
            f"{'; '.join(self.problems) or 'sound'} |",
            "",
            "| tool | calls | p50 ms | p95 ms | answers |",
            "|---|---|---|---|---|",
            *rows,
        ]


def endpoint(path: str) -> str:
    """A Cal.com path with its ids as placeholders (`/v2/bookings/{uid}/cancel`)."""
    path = path.split("?")[0]
    path = re.sub(r"(/v2/bookings)/[^/]+", r"\1/{uid}", path)
    return re.sub(r"/\d+", "/{id}", path)


def link_staff(stack: LocalStack) -> None:
    """The staff members without a Cal.com user linked to theirs as an admin does: their host
    mapped over the admin API (which provisions their booking event types), then the team sync,
    which records the user id on the staff member (the booking workflow books only a staff member
    with one; Fabian has his from the seed). Then the handlers' cached reads are dropped."""
    with httpx.Client(base_url=stack.http_url, headers=ADMIN_IDENTITY, timeout=120) as admin:
        for staff_id, user_id in CALCOM_USERS.items():
            if staff_id == "fabian-spitzer":
                continue
            response = admin.post(
                f"/admin/companies/{COMPANY}/host-mappings",
                json={"host_id": user_id, "staff_id": staff_id, "reason": "load test: every staff member"},
            )
            if not response.is_success or not response.json()["event_types"]["ok"]:
                raise RuntimeError(f"linking {staff_id} failed: {response.status_code} {response.text}")
    synced = stack.invoke("TeamSyncWorkerFunction", {"company_id": COMPANY})
    if synced.function_error or (synced.json() or {}).get("status") != "ok":
        raise RuntimeError(f"the team sync failed: {synced.payload}")
    importlib.import_module("calbridge.services.wiring").clear_caches()


def call(caller: int, number: int) -> dict[str, Any]:
    return {
        "call_id": f"call_load_{caller}_{number}",
        "direction": "inbound",
        "from_number": f"+49151{caller:04d}{number:04d}",
        "to_number": NUMBER,
        "metadata": {"company_id": COMPANY, "branch_id": BRANCH},
    }


def settle(stack: LocalStack, quiet_s: float = 6.0) -> None:
    """Wait until no request has reached Cal.com for `quiet_s` (a booking answered "noted" goes on
    after the answer; a step waits up to 5 s for a permit), then run the deferred cancels."""
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < quiet_s:
        time.sleep(0.5)
        count = len(httpx.get(f"{stack.calcom_url}/_standin/requests").raise_for_status().json())
        if count != seen:
            seen, quiet_since = count, time.monotonic()
    stack.drain_queue("CompensationQueue")


def run_load(stack: LocalStack, callers: int = CALLERS, seconds: float = SECONDS) -> LoadReport:
    """`callers` callers for `seconds` on a running stack with the demo salon seeded (it links the
    other staff members first), then the report and the outcome's check."""
    link_staff(stack)
    today = datetime.now(ZoneInfo(demo_fixture()["company"]["timezone"])).date()
    next_lane, lock = lanes(today), threading.Lock()
    first = max((e["seq"] for e in _requests(stack)), default=0)
    samples: list[Sample] = []
    started = time.monotonic()
    deadline = started + seconds

    def caller(index: int) -> None:
        retell = RetellSimulator(stack.http_url, timeout_s=GATEWAY_TIMEOUT_S)
        try:
            for number in itertools.count():
                if time.monotonic() >= deadline:
                    return
                with lock:
                    lane = next(next_lane)
                asked = {
                    "service": lane.service,
                    "mitarbeiter": lane.first_name,
                    "date": lane.day.isoformat(),
                }
                checked = _tool(retell, "check_availability", asked, call(index, number))
                samples.append(checked[0])
                if checked[0].kind != "available":
                    continue
                data = checked[1]["data"]
                offered = datetime.fromisoformat((data.get("starts") or [data])[0]["start"])
                booking = {
                    **asked,
                    "date": offered.date().isoformat(),
                    "time": offered.strftime("%H:%M"),
                    "customer_name": f"Kunde {index}-{number}",
                }
                samples.append(_tool(retell, "book_appointment", booking, call(index, number))[0])
        finally:
            retell.close()

    with dynamodb_calls() as operations, ThreadPoolExecutor(callers) as pool:
        for running in [pool.submit(caller, index) for index in range(callers)]:
            running.result()
    elapsed = time.monotonic() - started
    dynamodb = len(operations)
    settle(stack)
    report = LoadReport(
        callers, seconds, elapsed, samples, [e for e in _requests(stack) if e["seq"] > first], dynamodb
    )
    report.problems = outcome_problems(stack, samples)
    return report


def _tool(
    retell: RetellSimulator, name: str, args: dict[str, Any], call: dict[str, Any]
) -> tuple[Sample, Any]:
    started = time.perf_counter()
    try:
        response = retell.tool(name, args, call)
    except httpx.TimeoutException:
        return Sample(name, time.perf_counter() - started, "timeout"), None
    elapsed = time.perf_counter() - started
    kind = answer_kind(response)
    body = response.json() if response.status_code == 200 else None
    booked = body["data"].get("appointment_id") if kind == "booked" else None
    detail = "" if kind in ANSWERED else f"{json.dumps(args, ensure_ascii=False)} -> {response.text[:300]}"
    return Sample(name, elapsed, kind, booked, detail), body


def _requests(stack: LocalStack) -> list[dict[str, Any]]:
    return httpx.get(f"{stack.calcom_url}/_standin/requests").raise_for_status().json()


def outcome_problems(stack: LocalStack, samples: list[Sample]) -> list[str]:
    """What is wrong with the outcome: a booking a caller heard of that is not stored as booked, or
    told to two callers; a hold with no or several active Cal.com bookings; an active Cal.com
    booking of ours whose appointment is not booked (an orphan)."""
    told = Counter(s.appointment_id for s in samples if s.appointment_id)
    stored = {
        item["appointment_id"]["S"]: item
        for page in stack.boto3_client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName="AppointmentsTable")
        for item in page["Items"]
        if item.get("kind", {}).get("S") == "appointment" and item["status"]["S"] == "booked"
    }
    active: dict[str, Counter[str]] = {}
    for booking in httpx.get(f"{stack.calcom_url}/_standin/bookings").raise_for_status().json():
        metadata = booking.get("metadata") or {}
        if metadata.get("calbridge_booking_id") and booking["status"] not in ("cancelled", "rejected"):
            holds = active.setdefault(metadata["calbridge_booking_id"], Counter())
            holds[metadata.get("calbridge_hold")] += 1
    problems = [f"{a} told to {n} callers" for a, n in told.items() if n > 1]
    problems += [f"{a} told booked, not stored as booked" for a in told if a not in stored]
    for appointment_id, item in stored.items():
        holds = set(item["calcom_booking_uids"]["M"])
        found = active.get(appointment_id, Counter())
        if set(found) != holds or any(n != 1 for n in found.values()):
            problems.append(f"{appointment_id}: holds {sorted(holds)}, active Cal.com bookings {dict(found)}")
    problems += [f"orphan Cal.com booking(s) of {a}" for a in active if a not in stored]
    return problems


def template_rate_limit() -> dict[str, str]:
    """The template's Cal.com rate-limit settings (Globals), which the local stack loosens."""
    variables = load_template(REPO / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    return {name: str(variables[name]) for name in RATE_SETTINGS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--callers", type=int, default=int(os.environ.get("LOAD_CALLERS", CALLERS)))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("LOAD_SECONDS", SECONDS)))
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.callers < 1 or args.seconds <= 0:
        parser.error("--callers must be at least 1 and --seconds positive")

    import time_machine  # the dev venv's: the stack runs in this process, so its clock is pinned too

    now = datetime.fromisoformat(os.environ.get("CALBRIDGE_TEST_NOW", DEFAULT_NOW))
    with time_machine.travel(now, tick=True), measured_demo_stack(template_rate_limit()) as stack:
        report = run_load(stack, args.callers, args.seconds)
    lines = [
        *report.lines(),
        "",
        f"Pinned today: {now.date().isoformat()} ({now.strftime('%A')}); calbridge's rate limit the "
        f"template's ({', '.join(f'{k}={v}' for k, v in template_rate_limit().items())}); the stand-in's "
        "Cal.com's (120 a minute per key). Load average at the end of the run: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_block("load", f"LOAD_CALLERS={args.callers} LOAD_SECONDS={args.seconds:g} make load", lines)
    return 1 if report.problems or report.unexpected or report.statuses[429] else 0


if __name__ == "__main__":
    sys.exit(main())
