"""Every booking step function has a sample in events/ (events/booking_<handler>.json), and each
one does on the stack what `python -m local invoke <Function> -e <sample>` shows: the stack
seeded as that command seeds it (the demo salon plus local/fixtures/invoke_samples.json), afresh
for every sample, since the samples change what the others work on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

EVENTS = Path(__file__).parents[2] / "events"
SAMPLES = json.loads((Path(__file__).parents[2] / "local/fixtures/invoke_samples.json").read_text("utf-8"))
ATTEMPT, BOOKED = SAMPLES["attempts"]
FABIAN_USER = 1420209


def _booking_step_functions(stack) -> dict[str, str]:
    """Logical id -> handler name of every state machine task in functions/booking_steps (app.py;
    compensation.py is the compensation queue's worker, sampled by compensation_sqs_batch.json)."""
    return {
        lid: fn.handler_spec.rpartition(".")[2]
        for lid, fn in stack.functions.items()
        if stack.code_uris[lid].rstrip("/").endswith("functions/booking_steps")
        and fn.handler_spec.startswith("app.")
    }


EXPECTED: dict[str, Callable[[Any], bool]] = {
    "plan": lambda out: (
        [h["key"] for h in out["holds"]] == ["A", "B", "C", "D"]
        and out["lease_key"] == "fabian-spitzer#2030-03-06"
    ),
    "acquire_lock": lambda out: out["owner"] == "bk_3f6c2a9e8d7b4c1a9e0f5d2b7a6c8e14",
    "reserve_hold": lambda out: (
        (out["failed"], out["hold"], out["reused"]) == (False, "A", False)
        and [h["id"] for h in out["hosts"]] == [FABIAN_USER]
    ),
    "assign_staff": lambda out: (
        [(a["hold"], a["staff_id"]) for a in out["assignments"]]
        == [(key, "fabian-spitzer") for key in "ABCD"]
    ),
    "finalize": lambda out: (
        out["appointment_id"] == "bk_3f6c2a9e8d7b4c1a9e0f5d2b7a6c8e14"
        and out["status"] == "booked"
        and len(out["confirmation_code"]) == 6
    ),
    "compensate": lambda out: (
        sorted(out["cancelled"]) == sorted(ATTEMPT["uids"].values()) and out["recorded"]
    ),
    "load_for_cancel": lambda out: (
        out["status"] == "booked" and sorted(out["uids"]) == sorted(BOOKED["uids"].values())
    ),
    "cancel_hold": lambda out: (out["uid"], out["status"]) == ("2rNx7CvG5kTe3PaZ9jQwMb", "cancelled"),
    "mark_cancelled": lambda out: (
        out["status"] == "cancelled" and sorted(out["cancelled_uids"]) == sorted(BOOKED["uids"].values())
    ),
    "load_for_reschedule": lambda out: (
        out["request"]["start"].startswith("2030-03-27T10:00")
        and out["request"]["booking_id"] == "bk_9b2d4f6a8c0e4b1d3f5a7c9e1b3d5f7a"
    ),
    "swap_appointment": lambda out: (
        out["appointment_id"] == BOOKED["request"]["booking_id"] and out["start"] == "2030-03-27T09:00:00Z"
    ),
}


def test_every_booking_step_function_has_a_sample(stack):
    handlers = set(_booking_step_functions(stack).values())
    assert handlers == set(EXPECTED)
    assert {f"booking_{handler}.json" for handler in handlers} <= {p.name for p in EVENTS.iterdir()}


def test_the_compensation_worker_sample_cancels_the_half_booked_attempt(invoke_seeded):
    """events/compensation_sqs_batch.json: the half-booked attempt of booking_compensate.json as a
    deferred compensation (ADR 0024); the worker cancels its Cal.com bookings."""
    event = json.loads((EVENTS / "compensation_sqs_batch.json").read_text("utf-8"))

    result = invoke_seeded.invoke("CompensationWorkerFunction", event)

    assert result.function_error is None, result.payload
    assert result.json() == {"batchItemFailures": []}
    bookings = httpx.get(f"{invoke_seeded.calcom_url}/_standin/bookings", timeout=10).json()
    statuses = {b["uid"]: b["status"] for b in bookings}
    assert {statuses[uid] for uid in ATTEMPT["uids"].values()} == {"cancelled"}


@pytest.mark.parametrize("handler", sorted(EXPECTED))
def test_the_sample_works_on_the_invoke_seeded_stack(invoke_seeded, handler):
    function = next(lid for lid, name in _booking_step_functions(invoke_seeded).items() if name == handler)
    event = json.loads((EVENTS / f"booking_{handler}.json").read_text("utf-8"))

    result = invoke_seeded.invoke(function, event)

    assert result.function_error is None, result.payload
    assert EXPECTED[handler](result.json()), result.json()
