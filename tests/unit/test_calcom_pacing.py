"""A guarded Cal.com client (adapters/calcom/pacing.py): pacing, 429 waited out, GETs retried,
writes not, the deadline respected, every request counted. Time is a fake clock; Cal.com is an
httpx.MockTransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from calbridge.adapters.calcom import CalcomClient
from calbridge.adapters.calcom.models import TeamEventTypeUpdate
from calbridge.adapters.calcom.pacing import Deadline, Pacer, RequestGuard
from calbridge.errors import CalcomCircuitOpen, CalcomRejected, CalcomUnavailable, DeadlineExceeded


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def throttled(reset: str = "7") -> httpx.Response:
    body = {"status": "error", "error": {"code": "ThrottlerException", "message": "Too many requests"}}
    return httpx.Response(429, json=body, headers={"X-RateLimit-Reset-Default": reset})


def members_page(ids: range) -> httpx.Response:
    data = [
        {"id": i, "userId": 1000 + i, "teamId": 55, "accepted": True, "user": {"email": f"u{i}@x.io"}}
        for i in ids
    ]
    return httpx.Response(200, json={"status": "success", "data": data})


def client_with(replies: list[httpx.Response], seen: list[httpx.Request]) -> CalcomClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return replies.pop(0)

    return CalcomClient(
        base_url="https://api.cal.com", api_key_provider=lambda: "k", transport=httpx.MockTransport(handler)
    )


def guarded(
    replies: list[httpx.Response], *, deadline_s: float = 300, limit: int = 120
) -> tuple[CalcomClient, RequestGuard, FakeTime, list[httpx.Request]]:
    fake, seen = FakeTime(), []
    pacer = Pacer(limit=limit, window_s=60, clock=fake.clock)
    guard = RequestGuard(Deadline(deadline_s, fake.clock), pacer, sleep=fake.sleep)
    return client_with(replies, seen).guarded(guard), guard, fake, seen


def test_a_429_mid_listing_is_waited_out_and_that_page_retried():
    client, guard, fake, seen = guarded([members_page(range(2)), throttled("7"), members_page(range(2, 3))])

    members = client.list_team_memberships(55, page_size=2)

    assert [m.user_id for m in members] == [1000, 1001, 1002]
    assert fake.slept == [7.0]
    assert (guard.calls, guard.throttled) == (3, 1)
    assert [r.url.params["skip"] for r in seen] == ["0", "2", "2"]  # only the throttled page again


def test_a_429_with_a_zero_reset_still_waits_a_second():
    client, guard, fake, _ = guarded(
        [throttled("0"), httpx.Response(200, json={"status": "success", "data": []})]
    )
    client.list_team_event_types(55)
    assert fake.slept == [1.0] and guard.throttled == 1


def test_a_wait_past_the_deadline_raises_deadline_exceeded_without_sleeping():
    client, guard, fake, _ = guarded([throttled("60")], deadline_s=30)

    with pytest.raises(DeadlineExceeded, match="rate limit"):
        client.list_team_event_types(55)
    assert fake.slept == [] and guard.calls == 1


def test_gets_are_retried_after_cal_com_was_unavailable_writes_are_not():
    unavailable = httpx.Response(503, json={"status": "error", "error": {"message": "down"}})
    client, guard, fake, _ = guarded(
        [unavailable, unavailable, httpx.Response(200, json={"status": "success", "data": []})]
    )
    assert client.list_team_event_types(55) == []
    assert fake.slept == [0.5, 2.0] and guard.calls == 3

    client, guard, fake, _ = guarded([unavailable] * 3)
    with pytest.raises(CalcomUnavailable):
        client.list_team_event_types(55)
    assert guard.calls == 3  # first try and two retries, then the failure is the caller's

    client, guard, fake, _ = guarded([unavailable])
    with pytest.raises(CalcomUnavailable):
        client.update_team_event_type(55, 7, TeamEventTypeUpdate(hidden=True))
    assert guard.calls == 1 and fake.slept == []


def test_an_open_breaker_is_not_retried_nothing_was_sent():
    """The breaker refuses before any exchange (ADR 0022): a GET's retries would only meet it again."""
    fake = FakeTime()
    guard = RequestGuard(
        Deadline(300, fake.clock), Pacer(limit=120, window_s=60, clock=fake.clock), sleep=fake.sleep
    )

    def refused() -> dict:
        raise CalcomCircuitOpen("breaker open", retry_after_s=30)

    with pytest.raises(CalcomCircuitOpen):
        guard("GET", refused)
    assert guard.calls == 1 and fake.slept == []


def test_other_rejections_pass_through_unretried():
    client, guard, _, _ = guarded([httpx.Response(403, json={"status": "error", "error": {"message": "no"}})])
    with pytest.raises(CalcomRejected):
        client.list_team_memberships(55)
    assert guard.calls == 1


def test_the_pacer_spreads_requests_over_the_window():
    ok = [httpx.Response(200, json={"status": "success", "data": []}) for _ in range(3)]
    client, guard, fake, _ = guarded(ok, limit=2)

    for _ in range(3):
        client.list_team_event_types(55)

    assert fake.slept == [60.0]  # the third request waits until the first left the window
    assert guard.calls == 3


def test_a_429_holds_the_whole_container_until_the_reset():
    fake = FakeTime()
    pacer = Pacer(clock=fake.clock)
    pacer.block_for(10)
    assert pacer.delay() == 10
    fake.now += 4
    assert pacer.delay() == 6


def test_the_deadline_counts_down():
    fake = FakeTime()
    deadline = Deadline(5, fake.clock)
    assert deadline.remaining() == 5 and not deadline.expired
    fake.now += 6
    assert deadline.remaining() == 0 and deadline.expired


@pytest.mark.parametrize("make", [lambda: Pacer(limit=0), lambda: Pacer(window_s=0)])
def test_a_pacer_needs_a_limit_and_a_window(make: Callable[[], Pacer]):
    with pytest.raises(ValueError):
        make()


def test_an_unguarded_client_is_unchanged_and_the_view_shares_its_pool():
    seen: list[httpx.Request] = []
    client = client_with([httpx.Response(200, json={"status": "success", "data": []})], seen)
    view = client.guarded(RequestGuard(Deadline(1), Pacer()))
    assert client._guard is None and view._http is client._http
    client.list_team_event_types(55)
    assert len(seen) == 1
