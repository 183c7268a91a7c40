"""adapters/idempotency.OnceOnly against moto's DynamoDB (the IdempotencyTable from template.yaml):
kept answers, transient ones, raised errors and a repeat that arrives while the first still runs."""

from __future__ import annotations

import importlib
import threading

import pytest

# No Lambda context here: Powertools warns that it cannot bound an in-progress record by it.
pytestmark = pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")

KEY = {"company_id": "salon-demo", "call_id": "call_1", "tool": "book_appointment", "args": {"x": "y"}}


@pytest.fixture
def idempotency(fresh):
    return importlib.import_module("calbridge.adapters.idempotency")


def once_only(idempotency, wait_s: float = 5.0):
    settings = importlib.import_module("calbridge.config").get_settings()
    return idempotency.OnceOnly(settings.idempotency_table, expires_after_s=600, wait_s=wait_s)


def counting(answer: dict, final: bool = True):
    runs: list[int] = []

    def action():
        runs.append(1)
        return answer, final

    return action, runs


def test_a_final_answer_is_kept_and_replayed_in_the_same_form(idempotency):
    once = once_only(idempotency)
    action, runs = counting({"success": True, "data": {"b": 2, "a": 1}})
    first = once.run(KEY, action)
    again = once.run(dict(reversed(KEY.items())), action)
    assert first == again == {"data": {"a": 1, "b": 2}, "success": True} and list(first["data"]) == ["a", "b"]
    assert len(runs) == 1
    once.run({**KEY, "call_id": "call_2"}, action)  # another call is another key
    assert len(runs) == 2


def test_transient_answers_and_errors_are_not_kept(idempotency):
    once = once_only(idempotency)
    transient, runs = counting({"success": False}, final=False)
    assert once.run(KEY, transient) == {"success": False}
    assert once.run(KEY, transient) == {"success": False} and len(runs) == 2

    def failing():
        raise ValueError("protocol error")

    key = {**KEY, "call_id": "call_failing"}
    with pytest.raises(ValueError):
        once.run(key, failing)
    fixed, runs = counting({"success": True})
    assert once.run(key, fixed) == {"success": True} and len(runs) == 1


def test_a_repeat_waits_for_the_first_run_and_gets_its_answer(idempotency):
    once = once_only(idempotency)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return {"success": True, "first": True}, True

    results: dict[str, dict] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", once.run(KEY, slow)))
    first.start()
    assert started.wait(10)
    threading.Timer(0.6, release.set).start()
    repeat, runs = counting({"success": True, "first": False})
    assert once.run(KEY, repeat) == {"first": True, "success": True}
    first.join(10)
    assert results["first"] == {"first": True, "success": True} and runs == []


def test_a_repeat_gives_up_waiting_with_still_running(idempotency):
    once = once_only(idempotency, wait_s=0.5)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return {"success": True}, True

    first = threading.Thread(target=lambda: once.run(KEY, slow))
    first.start()
    assert started.wait(10)
    try:
        repeat, runs = counting({"success": True})
        with pytest.raises(idempotency.StillRunning):
            once.run(KEY, repeat)
        assert runs == []
    finally:
        release.set()
        first.join(10)
