"""The nightly team sync's schedule and fan-out on the local stack, with the real per-company sync
against the Cal.com stand-in.

The schedule fires (`fire_schedule`), the scheduler function enqueues one SQS job per company with
a Cal.com team, and `drain_queue` delivers the queue to the worker as Lambda's SQS poller does
(batch events, `batchItemFailures`, deletes, visibility), so moto's own receive counting redrives
a job that keeps failing to the dead-letter queue. This module runs its own stack with the retry
backoff shortened to 0 s (TEAM_SYNC_RETRY_BACKOFF_S); the 60/300/900 s mapping is unit-tested
(tests/unit/test_team_sync_jobs.py).

Besides the demo salon, tests add companies: `salon-nord` uses the stand-in's team too (the
stand-in serves one team; our tables keep the two tenants apart), `salon-sued` has a team of its
own whose Cal.com endpoints the stand-in's fault injection breaks, and `studio-ohne-team` has no
team id at all.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.seed import DEMO_FIXTURE, seed_demo
from local.stack import LocalStack, suspended_active_stack
from tests.conftest import reseed

REPO = Path(__file__).parents[2]
EVENTS = REPO / "events"
ADMIN = {"x-calbridge-local-identity": "arn:aws:iam::123456789012:user/admin-alice"}
STANDIN_TEAM = 39203
BROKEN_TEAM = 39204


@pytest.fixture(scope="module")
def stack():
    with (
        suspended_active_stack(),
        LocalStack(
            REPO / "template.yaml",
            http_port=0,
            standin_fixture=DEMO_FIXTURE,
            seed=seed_demo,
            env={"TEAM_SYNC_RETRY_BACKOFF_S": "0,0,0"},
        ) as running,
    ):
        yield running


@pytest.fixture
def fresh(stack):
    reseed(stack)
    yield stack
    stack.standin.reset()
    reseed(stack)


@pytest.fixture
def admin(stack):
    with httpx.Client(base_url=stack.http_url, headers=ADMIN, timeout=30) as client:
        yield client


def add_company(company_id: str, team: int | None) -> None:
    models = importlib.import_module("calbridge.domain.models")
    store = importlib.import_module("calbridge.adapters.store.repositories")
    branch = models.Branch(branch_id="main", name="Hauptfiliale")
    store.CompanyRepository().save(
        models.Company(
            company_id=company_id,
            name=company_id.replace("-", " ").title(),
            timezone="Europe/Berlin",
            calcom_team_id=team,
            branches=[branch],
        )
    )


def runs_of(stack, company_id: str) -> list[dict[str, Any]]:
    """The company's stored runs (SyncRunsTable), newest first, read the way an admin reads them."""
    with httpx.Client(base_url=stack.http_url, headers=ADMIN) as client:
        response = client.get(f"/admin/companies/{company_id}/sync-runs", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["runs"]


def messages_in(stack, queue: str) -> int:
    attributes = stack.boto3_client("sqs").get_queue_attributes(
        QueueUrl=stack.resources[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dead_letters(stack) -> list[dict[str, Any]]:
    answer = stack.boto3_client("sqs").receive_message(
        QueueUrl=stack.resources["TeamSyncDeadLetterQueue"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def send_raw(stack, body: str) -> str:
    return stack.boto3_client("sqs").send_message(
        QueueUrl=stack.resources["TeamSyncQueue"], MessageBody=body
    )["MessageId"]


def job_body(company_id: str, trigger: str = "admin") -> str:
    return json.dumps({"company_id": company_id, "trigger": trigger, "requested_at": "2026-03-02T00:30:00Z"})


def logged(caplog, message: str) -> list[Any]:
    """Log records of our handlers (Powertools keeps the keys as record attributes) with a message."""
    return [r for r in caplog.records if r.name == "calbridge" and r.getMessage().startswith(message)]


# ------------------------------------------------------------------ the nightly fan-out


def test_the_schedule_fans_out_one_job_per_company_with_a_team(fresh, caplog):
    stack = fresh
    add_company("salon-nord", STANDIN_TEAM)
    add_company("studio-ohne-team", None)
    caplog.clear()

    fan_out = stack.fire_schedule("TeamSyncSchedule")

    assert fan_out["status"] == "enqueued"
    assert set(fan_out["enqueued"]) == {"salon-demo", "salon-nord"}
    assert fan_out["skipped"] == {"studio-ohne-team": "no Cal.com team id (calcom_team_id is not set)"}
    assert messages_in(stack, "TeamSyncQueue") == 2
    skipped_logs = logged(caplog, "team sync: company skipped")
    assert [(r.company_id, r.reason) for r in skipped_logs] == [
        ("studio-ohne-team", "no Cal.com team id (calcom_team_id is not set)")
    ]

    deliveries = stack.drain_queue("TeamSyncQueue")

    assert [len(d.message_ids) for d in deliveries] == [1, 1]  # BatchSize 1: a company per invocation
    assert all(d.failed_ids == [] and d.result.function_error is None for d in deliveries)
    assert messages_in(stack, "TeamSyncQueue") == 0
    for company_id, message_id in fan_out["enqueued"].items():
        [run] = runs_of(stack, company_id)
        assert run["trigger"] == "schedule" and run["job_id"] == message_id
        assert run["report"]["status"] == "ok", run["report"]
        assert run["report"]["members_synced"] == 4 and run["report"]["company_id"] == company_id
    assert runs_of(stack, "studio-ohne-team") == []
    assert {r.company_id for r in logged(caplog, "team sync report")} == {"salon-demo", "salon-nord"}


def test_events_samples_run_on_the_stack(fresh):
    stack = fresh

    def sample(name: str) -> Any:
        return json.loads((EVENTS / name).read_text(encoding="utf-8"))

    scheduled = stack.invoke("TeamSyncSchedulerFunction", sample("team_sync_schedule.json")).json()
    assert scheduled["status"] == "enqueued" and list(scheduled["enqueued"]) == ["salon-demo"]
    batch = stack.invoke("TeamSyncWorkerFunction", sample("team_sync_sqs_batch.json")).json()
    assert batch == {"batchItemFailures": []}
    on_demand = stack.invoke("TeamSyncWorkerFunction", sample("team_sync_on_demand.json")).json()
    assert on_demand["status"] == "ok" and on_demand["trigger"] == "on_demand"
    runs = runs_of(stack, "salon-demo")
    assert [r["trigger"] for r in runs] == ["on_demand", "schedule"]
    assert runs[1]["job_id"] == sample("team_sync_sqs_batch.json")["Records"][0]["messageId"]

    queued = stack.invoke("AdminApiFunction", sample("admin_sync_team.json")).json()
    assert queued["statusCode"] == 202 and json.loads(queued["body"])["status"] == "queued"
    listed = stack.invoke("AdminApiFunction", sample("admin_list_sync_runs.json")).json()
    assert listed["statusCode"] == 200 and len(json.loads(listed["body"])["runs"]) == 2


# ------------------------------------------------------------------ one run per company at a time


def test_overlapping_runs_for_one_company_one_runs_the_other_skips(fresh):
    stack = fresh
    leases = importlib.import_module("calbridge.adapters.store.leases").LeaseRepository()
    httpx.post(f"{stack.calcom_url}/_standin/latency", json={"ms": 1500}).raise_for_status()
    first: dict[str, Any] = {}
    running = threading.Thread(
        target=lambda: first.update(
            stack.invoke("TeamSyncWorkerFunction", {"company_id": "salon-demo"}).json()
        )
    )
    running.start()
    try:
        deadline = time.monotonic() + 10
        while leases.get("salon-demo", "sync") is None:
            assert time.monotonic() < deadline, "the first run never took the lease"
            time.sleep(0.05)
        message_id = send_raw(stack, job_body("salon-demo", "schedule"))
        [delivery] = stack.drain_queue("TeamSyncQueue")
    finally:
        running.join(timeout=60)
        httpx.post(f"{stack.calcom_url}/_standin/latency", json={"ms": 0}).raise_for_status()

    assert delivery.message_ids == [message_id] and delivery.failed_ids == []  # done, not retried
    assert first["status"] == "ok"
    runs = {r["trigger"]: r["report"] for r in runs_of(stack, "salon-demo")}
    assert runs["on_demand"]["status"] == "ok"
    assert runs["schedule"]["status"] == "skipped"
    assert runs["schedule"]["skipped"][0]["reason"].startswith("another team sync of this company is running")
    assert runs["schedule"]["members_synced"] == 0
    assert leases.get("salon-demo", "sync") is None  # the first run gave its lease back


# ------------------------------------------------------------------ failures stay with their company


def test_one_companys_calcom_failing_fails_only_its_job_which_ends_in_the_dlq(fresh):
    stack = fresh
    add_company("salon-nord", STANDIN_TEAM)
    add_company("salon-sued", BROKEN_TEAM)
    httpx.post(
        f"{stack.calcom_url}/_standin/faults",
        json=[{"endpoint": f"/v2/teams/{BROKEN_TEAM}/*", "fault": "5xx", "status": 503}],
    ).raise_for_status()
    fan_out = stack.fire_schedule("TeamSyncSchedule")
    broken = fan_out["enqueued"]["salon-sued"]

    # All three jobs in one batch (the template's BatchSize is 1; the handler isolates any batch).
    deliveries = stack.drain_queue("TeamSyncQueue", batch_size=10)

    first = deliveries[0]
    assert sorted(first.message_ids) == sorted(fan_out["enqueued"].values())
    assert first.failed_ids == [broken] and first.result.function_error is None
    assert first.result.json() == {"batchItemFailures": [{"itemIdentifier": broken}]}
    # Backoff 0 s here: the job comes straight back, fails its 2nd and 3rd attempt, and moto moves
    # it to the dead-letter queue on the next receive.
    retries = deliveries[1:]
    assert [d.message_ids for d in retries] == [[broken], [broken]]
    assert [d.receive_counts[broken] for d in deliveries] == [1, 2, 3]
    assert messages_in(stack, "TeamSyncQueue") == 0
    assert [(job["company_id"], job["trigger"]) for job in dead_letters(stack)] == [
        ("salon-sued", "schedule")
    ]
    for company_id in ("salon-demo", "salon-nord"):
        assert [r["report"]["status"] for r in runs_of(stack, company_id)] == ["ok"]
    failed = runs_of(stack, "salon-sued")
    assert [r["report"]["status"] for r in failed] == ["failed"] * 3
    assert all(r["job_id"] == broken for r in failed)
    # a later attempt may meet Cal.com's circuit breaker, opened by the earlier failures (ADR 0022)
    assert all(
        r["report"]["errors"][0].startswith(("CalcomUnavailable", "CalcomCircuitOpen")) for r in failed
    )
    assert (
        importlib.import_module("calbridge.adapters.store.leases").LeaseRepository().get("salon-sued", "sync")
        is None
    )


# ------------------------------------------------------------------ bad input is skipped, never a crash


def test_malformed_schedule_events_are_rejected_with_a_reason(fresh, caplog):
    stack = fresh
    for event in ({"source": "somebody-else", "scheduled_time": "2026-03-02T00:30:00Z"}, {}, [], 7):
        result = stack.invoke("TeamSyncSchedulerFunction", event)
        assert result.function_error is None
        assert result.json()["status"] == "rejected" and result.json()["reason"]
    missing_time = stack.invoke("TeamSyncSchedulerFunction", {"source": "calbridge.team-sync"}).json()
    assert missing_time["reason"].startswith("scheduled_time")
    assert messages_in(stack, "TeamSyncQueue") == 0
    assert len(logged(caplog, "team sync schedule event rejected")) == 5


def test_malformed_bodies_and_unknown_companies_are_dropped_not_retried(fresh, caplog):
    stack = fresh
    caplog.clear()
    bodies = ["not json", '{"company_id": 5}', job_body("salon-demo").replace("admin", "cron")]
    for body in bodies:
        send_raw(stack, body)
    unknown = send_raw(stack, job_body("no-such-salon"))

    deliveries = stack.drain_queue("TeamSyncQueue")

    assert len(deliveries) == 4 and all(d.failed_ids == [] for d in deliveries)
    assert messages_in(stack, "TeamSyncQueue") == 0 and dead_letters(stack) == []
    rejected = logged(caplog, "team sync job rejected")
    assert len(rejected) == 3 and all(r.reason for r in rejected)
    unknown_delivery = next(d for d in deliveries if d.message_ids == [unknown])
    assert unknown_delivery.result.json() == {"batchItemFailures": []}
    assert stack.boto3_client("dynamodb").scan(TableName=stack.resources["SyncRunsTable"])["Items"] == []


def test_malformed_sqs_events_and_direct_invocations_answer_without_a_crash(fresh):
    stack = fresh
    for event in ({"Records": "nope"}, {"Records": []}, {"Records": [{"body": "x"}, 7]}):
        result = stack.invoke("TeamSyncWorkerFunction", event)
        assert result.function_error is None and result.json() == {"batchItemFailures": []}
    unknown = stack.invoke("TeamSyncWorkerFunction", {"company_id": "no-such-salon"}).json()
    assert unknown["status"] == "skipped" and unknown["skipped"][0]["reason"] == "unknown company"
    for event in ({"company": "salon-demo"}, {"company_id": "salon demo!"}, {"company_id": "x", "y": 1}):
        rejected = stack.invoke("TeamSyncWorkerFunction", event).json()
        assert rejected["status"] == "rejected" and rejected["reason"]
    add_company("studio-ohne-team", None)
    no_team = stack.invoke("TeamSyncWorkerFunction", {"company_id": "studio-ohne-team"}).json()
    assert no_team["status"] == "skipped" and no_team["skipped"][0]["reason"].startswith("no Cal.com team id")


# ------------------------------------------------------------------ the admin API


def test_an_admin_queues_a_sync_of_one_company(fresh, admin):
    stack = fresh
    response = admin.post("/admin/companies/salon-demo/sync")
    assert response.status_code == 202
    answer = response.json()
    assert answer["company_id"] == "salon-demo" and answer["status"] == "queued" and answer["message_id"]

    [delivery] = stack.drain_queue("TeamSyncQueue")

    assert delivery.message_ids == [answer["message_id"]] and delivery.failed_ids == []
    [run] = admin.get("/admin/companies/salon-demo/sync-runs").json()["runs"]
    assert run["trigger"] == "admin" and run["job_id"] == answer["message_id"]
    assert run["report"]["status"] == "ok"


def test_the_admin_sync_route_refuses_what_it_cannot_queue(fresh, admin):
    stack = fresh
    add_company("studio-ohne-team", None)
    unknown = admin.post("/admin/companies/no-such-salon/sync")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_company"
    no_team = admin.post("/admin/companies/studio-ohne-team/sync")
    assert no_team.status_code == 409 and no_team.json()["error"] == "no_calcom_team"
    anonymous = httpx.post(f"{stack.http_url}/admin/companies/salon-demo/sync")
    assert anonymous.status_code == 403
    assert admin.get("/admin/companies/no-such-salon/sync-runs").status_code == 404
    assert admin.get("/admin/companies/salon-demo/sync-runs", params={"limit": "0"}).status_code == 400
    assert messages_in(stack, "TeamSyncQueue") == 0


def test_with_queue_polling_an_admins_job_runs_by_itself(fresh, admin):
    """`make serve`: the stack's poller delivers the queue in the background, as Lambda would."""
    stack = fresh
    stack.start_queue_polling(interval_s=0.1)
    try:
        message_id = admin.post("/admin/companies/salon-demo/sync").json()["message_id"]
        deadline = time.monotonic() + 20
        while not (runs := runs_of(stack, "salon-demo")):
            assert time.monotonic() < deadline, "the queued job never ran"
            time.sleep(0.1)
    finally:
        stack.stop_queue_polling()
    assert runs[0]["job_id"] == message_id and runs[0]["report"]["status"] == "ok"
    assert messages_in(stack, "TeamSyncQueue") == 0


# ------------------------------------------------------------------ make sync


def test_make_sync_prints_the_report_of_an_on_demand_sync(stack, capsys):
    """`make sync COMPANY=salon-demo` is `python -m local sync --company salon-demo`: a stack of its
    own, the worker invoked directly, the report on stdout, a summary on stderr."""
    from local.__main__ import main

    with suspended_active_stack():
        code = main(["sync", "--company", "salon-demo"])
    out, err = capsys.readouterr()
    # The session's stack runs on in this process: its background workers' metrics (EMF, printed to
    # stdout as in Lambda) may follow the report; `make sync` alone prints the report only.
    report, end = json.JSONDecoder().raw_decode(out)
    assert all('"_aws"' in line for line in out[end:].splitlines() if line.strip()), out[end:]
    assert code == 0 and report["status"] == "ok" and report["trigger"] == "on_demand"
    assert report["company_id"] == "salon-demo" and report["members_synced"] == 4 and report["run_id"]
    assert "team sync of salon-demo: ok (members_synced 4" in err
