"""`make bench`: how fast calbridge answers Retell, measured on the local stack.

Measures (1) the cold-start import time of every function's handler module, in a fresh
interpreter each time, (2) warm round trips through the HTTP front for the inbound webhook
and the tool calls, reporting p50/p95, and (3) a 4-segment composite booking through the booking
state machine with the Cal.com stand-in at 150 ms latency: end-to-end time, Cal.com and DynamoDB
calls per booking, against issue 4's goals. Results are printed and written to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from local.retell_sim import RetellSimulator
from local.seed import DEMO_FIXTURE, seed_demo
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


def time_requests(send: Callable[[], httpx.Response], runs: int) -> list[float]:
    send()  # warm the route
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = send()
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


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


def import_time_ms(python: Path, code_uri: str, repeats: int = 5) -> float:
    """Median wall time of importing a handler module in a fresh interpreter, on the stack's env."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'layers/calbridge'}:{REPO / code_uri}"}
    script = "import time; t=time.perf_counter(); import app; print((time.perf_counter()-t)*1000)"
    runs = [
        subprocess.run([python, "-c", script], env=env, capture_output=True, text=True, check=True)
        for _ in range(repeats)
    ]
    return statistics.median(float(run.stdout) for run in runs)


def host_resolution_rows(runs: int) -> list[tuple[str, float, float, float]]:
    """DynamoDB calls and time to resolve a mapped host in a warm container (company and staff
    directory cached), before and after the mapping itself is cached."""
    # The stack imported the layer afresh at start (a cold start): use its modules.
    wiring = importlib.import_module("calbridge.services.wiring")
    hosts = importlib.import_module("calbridge.domain.hosts")
    connection = importlib.import_module("pynamodb.connection.base").Connection
    host = hosts.HostRef.from_calcom({"id": 1420209, "name": "Fabian Spitzer", "email": "fabian@askproai.de"})
    wiring.host_resolver().resolve("salon-demo", host)  # creates the mapping

    calls: list[str] = []
    original = connection._make_api_call

    def counting(self: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(operation)
        return original(self, operation, *args, **kwargs)

    def fresh_container() -> Any:
        wiring.host_resolver.cache_clear()
        resolver = wiring.host_resolver()
        resolver.company("salon-demo"), resolver.directory("salon-demo")
        return resolver

    cold, warm, cold_calls, warm_calls = [], [], 0, 0
    connection._make_api_call = counting
    try:
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
        connection._make_api_call = original
        wiring.host_resolver.cache_clear()
    return [
        ("mapping not cached yet", cold_calls / runs, statistics.median(cold), percentile(cold, 95)),
        ("mapping cached (TTL 30 s)", warm_calls / runs, statistics.median(warm), percentile(warm, 95)),
    ]


BOOKING_SERVICE, BOOKING_STAFF, CALCOM_LATENCY_MS = "177", "fabian-spitzer", 150
#: Issue 4's goals for one booking: time within 1.5 x one Cal.com round trip + 100 ms of our own
#: overhead; at most 6 DynamoDB calls.
GOAL_ROUND_TRIPS, GOAL_OVERHEAD_MS, GOAL_DYNAMODB_CALLS = 1.5, 100.0, 6


def booking_rows(stack: LocalStack, runs: int) -> tuple[list[str], dict[str, Any]]:
    """Book service 177 (4 segments) for Fabian `runs` times on distinct free starts through
    run_booking (StartSyncExecution on our real ASL, task Lambdas in-process), the stand-in's
    global latency at 150 ms. Per booking: wall time, Cal.com requests (the stand-in's request
    log), DynamoDB calls (PynamoDB's Connection._make_api_call; the boto3 StartSyncExecution call
    is Step Functions, not DynamoDB, and is not counted)."""
    wiring = importlib.import_module("calbridge.services.wiring")
    booking = importlib.import_module("calbridge.services.booking")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    connection = importlib.import_module("pynamodb.connection.base").Connection
    company = store.CompanyRepository().get("salon-demo")
    service = store.ServiceRepository().get("salon-demo", BOOKING_SERVICE)
    availability, calcom = wiring.availability(), wiring.calcom_client()
    control = httpx.Client(base_url=stack.calcom_url, timeout=30)
    event_type = next(
        e.event_type_id
        for e in importlib.import_module("calbridge.adapters.store.event_map")
        .EventMapRepository()
        .list("salon-demo", BOOKING_SERVICE)
        if e.event_type_id
    )

    # Distinct free starts, found before the clock starts (Cal.com without latency).
    control.post("/_standin/latency", json={"ms": 0}).raise_for_status()
    starts, day = [], date.today() + timedelta(days=7)
    while len(starts) < runs + 1:  # one more: a warm-up booking, not counted (as time_requests)
        day += timedelta(days=1)
        free = availability.free_starts(company, service, [day], BOOKING_STAFF)
        starts += [option.start for option in free[:1]]

    calls: list[str] = []
    original = connection._make_api_call

    def counting(self: Any, operation: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(operation)
        return original(self, operation, *args, **kwargs)

    control.post("/_standin/latency", json={"ms": CALCOM_LATENCY_MS}).raise_for_status()
    connection._make_api_call = counting
    times, calcom_calls, dynamodb_calls = [], [], []
    warm_up = 0.0
    operations: Counter[str] = Counter()
    calcom_paths: Counter[str] = Counter()
    try:
        round_trips = []
        for _ in range(5):  # one Cal.com round trip through our client, at this latency
            started = time.perf_counter()
            calcom.get_team_event_type(company.calcom_team_id, event_type)
            round_trips.append((time.perf_counter() - started) * 1000)
        round_trip = statistics.median(round_trips)
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
            calls.clear()
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
            dynamodb_calls.append(len(calls))
            operations.update(calls)
    finally:
        connection._make_api_call = original
        control.post("/_standin/latency", json={"ms": 0})
        control.close()

    p50, p95 = statistics.median(times), percentile(times, 95)
    goal_ms = GOAL_ROUND_TRIPS * round_trip + GOAL_OVERHEAD_MS
    per_booking_dynamodb = statistics.mean(dynamodb_calls)
    time_met, dynamodb_met = p50 <= goal_ms, max(dynamodb_calls) <= GOAL_DYNAMODB_CALLS
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
        f"| DynamoDB calls per booking | {per_booking_dynamodb:g} (max {max(dynamodb_calls)}) | "
        f"≤ {GOAL_DYNAMODB_CALLS} | {'yes' if dynamodb_met else 'NO'} |",
        "",
        f"Cal.com calls per booking: {by_path}.",
        "",
        f"DynamoDB calls per booking: {by_operation}.",
    ]
    summary = {"time_met": time_met, "dynamodb_met": dynamodb_met, "p50": p50, "goal_ms": goal_ms}
    return lines, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--booking-runs", type=int, default=10, help="composite bookings to time")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = parser.parse_args()

    # The handlers' JSON logs and metrics go to stdout as in Lambda: keep them out of the report.
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        LocalStack(
            REPO / "template.yaml", http_port=0, standin_fixture=DEMO_FIXTURE, seed=seed_demo
        ) as stack,
    ):
        retell = RetellSimulator(stack.http_url)
        cases: dict[str, Callable[[], httpx.Response]] = {
            "POST /retell/inbound (routed)": lambda: retell.inbound(CALL["from_number"], CALL["to_number"]),
            "get_service_info (one service)": lambda: retell.tool(
                "get_service_info", {"service": "Ansatzfärbung"}, {**CALL, "call_id": uuid.uuid4().hex}
            ),
            "get_service_info (menu)": lambda: retell.tool("get_service_info", {}, CALL),
        }
        rows = []
        for name, send in cases.items():
            samples = time_requests(send, args.runs)
            rows.append((name, statistics.median(samples), percentile(samples, 95)))
        resolution = host_resolution_rows(args.runs)
        booking_lines, _ = booking_rows(stack, args.booking_runs)
        python = runtime_python()
        imports = {
            logical_id: import_time_ms(python, code_uri)
            for logical_id, code_uri in sorted(stack.code_uris.items())
        }
        retell.close()

    lines = [
        "| request (HTTP front → handler → moto DynamoDB, warm) | p50 ms | p95 ms |",
        "|---|---|---|",
        *(f"| {name} | {p50:.1f} | {p95:.1f} |" for name, p50, p95 in rows),
        "",
        "| resolving a mapped host, warm container (in-process) | DynamoDB calls | p50 ms | p95 ms |",
        "|---|---|---|---|",
        *(f"| {name} | {calls:g} | {p50:.2f} | {p95:.2f} |" for name, calls, p50, p95 in resolution),
        "",
        *booking_lines,
        "",
        "| function | cold import of the handler module, ms (median of 5, Lambda's packages only) |",
        "|---|---|",
        *(f"| {name} | {ms:.0f} |" for name, ms in imports.items()),
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
        RESULTS.write_text(
            "# Benchmarks\n\n"
            "`make bench` writes this file. Times include the local HTTP front and moto's DynamoDB, so\n"
            "they are an upper bound of our own overhead; AWS adds API Gateway and network latency.\n\n"
            f"Last run: {time.strftime('%Y-%m-%d')}, {args.runs} requests per row, {machine}.\n\n"
            f"{table}\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
