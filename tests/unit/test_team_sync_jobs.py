"""The team sync's fan-out without AWS: job and schedule models, the retry backoff, the runner's
lease and run log, the worker's postponing, batch sends, and the local stack's SQS delivery rules.

Stores, queue and the per-company sync are small in-memory stand-ins here; the real ones run in
tests/integration/test_team_sync_fanout.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from calbridge.config import load_settings
from calbridge.domain.models import Branch, Company
from calbridge.domain.sync import SyncReport
from calbridge.domain.sync_jobs import ScheduleEvent, TeamSyncJob, retry_delay_s
from calbridge.errors import (
    CalcomUnavailable,
    InvalidConfiguration,
    LeaseBusy,
    NoCalcomTeam,
    QueueUnavailable,
    StoreUnavailable,
    UnknownCompany,
)
from calbridge.observability import metrics
from calbridge.services.team_sync_jobs import (
    MAX_ATTEMPTS,
    REPORT_COUNTERS,
    QueuedJob,
    SyncAttemptFailed,
    TeamSyncFanOut,
    TeamSyncRunner,
    TeamSyncWorker,
)
from local.lambda_runtime import InvokeResult
from local.sqs_source import failed_message_ids, lambda_sqs_record
from local.template import load_template
from tests.unit.test_config_and_observability import ENV

REPO = Path(__file__).parents[2]
NOW = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)


def template_resources() -> dict[str, Any]:
    return load_template(REPO / "template.yaml")["Resources"]


# ------------------------------------------------------------------ in-memory stand-ins


def company(company_id: str, team: int | None = 39203) -> Company:
    branch = Branch(branch_id="main", name="Main")
    return Company(
        company_id=company_id,
        name=company_id,
        timezone="Europe/Berlin",
        calcom_team_id=team,
        branches=[branch],
    )


class Companies:
    def __init__(self, *companies: Company, fail: bool = False) -> None:
        self.by_id = {c.company_id: c for c in companies}
        self.fail = fail

    def get(self, company_id: str) -> Company:
        if self.fail:
            raise StoreUnavailable("the company store is unavailable")
        if company_id not in self.by_id:
            raise UnknownCompany(f"unknown company {company_id!r}")
        return self.by_id[company_id]

    def calcom_team_ids(self) -> dict[str, int | None]:
        return {c.company_id: c.calcom_team_id for c in self.by_id.values()}


class Leases:
    """The LeaseRepository contract: absent, expired or mine -> taken; release only by the owner."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], tuple[str, int]] = {}
        self.released: list[str] = []

    def acquire(self, company_id: str, lease_key: str, owner: str, *, ttl_s: int, now: datetime) -> Any:
        current = self.held.get((company_id, lease_key))
        if current and current[0] != owner and current[1] > now.timestamp():
            raise LeaseBusy(f"lease {lease_key} is held")
        self.held[(company_id, lease_key)] = (owner, int(now.timestamp()) + ttl_s)

    def release(self, company_id: str, lease_key: str, owner: str) -> bool:
        current = self.held.get((company_id, lease_key))
        if current and current[0] != owner:
            return False
        self.held.pop((company_id, lease_key), None)
        self.released.append(owner)
        return True

    def get(self, company_id: str, lease_key: str) -> Any:
        current = self.held.get((company_id, lease_key))
        if current is None:
            return None
        return type("Lease", (), {"owner": current[0], "expires_at": current[1]})()


class Runs:
    def __init__(self) -> None:
        self.saved: list[Any] = []

    def save(self, run: Any) -> None:
        self.saved.append(run)

    def recent(self, company_id: str, limit: int = 20) -> list[dict[str, Any]]:
        return [{"run_id": r.run_id} for r in self.saved if r.report.company_id == company_id][:limit]


class Sync:
    def __init__(self, outcome: SyncReport | Exception | None = None) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, float]] = []

    def sync_company(self, company_id: str, *, deadline_s: float = 300.0) -> SyncReport:
        self.calls.append((company_id, deadline_s))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome or SyncReport(company_id=company_id, started_at=NOW, members_synced=4)


class Queue:
    def __init__(self, fail_postpone: bool = False) -> None:
        self.sent: list[Any] = []
        self.postponed: list[tuple[str, int]] = []
        self.fail_postpone = fail_postpone

    def send(self, job: Any) -> str:
        self.sent.append(job)
        return f"msg-{len(self.sent)}"

    def send_many(self, jobs: list[Any]) -> Any:
        from calbridge.adapters.queue import BatchSendResult

        self.sent.extend(jobs)
        return BatchSendResult(message_ids={i: f"msg-{job.company_id}" for i, job in enumerate(jobs)})

    def postpone(self, receipt_handle: str, delay_s: int) -> None:
        if self.fail_postpone:
            raise QueueUnavailable("the job queue is unavailable")
        self.postponed.append((receipt_handle, delay_s))


def runner(sync: Sync, companies: Companies, leases: Leases | None = None, runs: Runs | None = None):
    ids = iter(f"run-{n}" for n in range(1, 100))
    return TeamSyncRunner(
        lambda: sync,
        companies,
        leases or Leases(),
        runs or Runs(),
        max_deadline_s=300,
        clock=lambda: NOW,
        new_run_id=lambda: next(ids),
    )


@pytest.fixture(autouse=True)
def clean_metrics():
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def metric(name: str) -> list[float]:
    return list(metrics.metric_set.get(name, {}).get("Value", []))


# ------------------------------------------------------------------ backoff and configuration


@pytest.mark.parametrize(("attempt", "delay"), [(1, 60), (2, 300), (3, 900), (4, 900), (0, 60)])
def test_the_seeds_backoff_by_receive_count(attempt, delay):
    assert retry_delay_s(attempt, (60, 300, 900)) == delay


def test_backoff_and_deadline_come_from_the_environment():
    defaults = load_settings(ENV)
    assert defaults.team_sync_retry_backoff_s == (60, 300, 900)
    assert defaults.team_sync_deadline_s == 300
    assert defaults.sync_run_retention_days == 90
    assert load_settings({**ENV, "TEAM_SYNC_RETRY_BACKOFF_S": " 0, 5,10 "}).team_sync_retry_backoff_s == (
        0,
        5,
        10,
    )
    for bad in ("60,-1", "60,soon", "50000"):
        with pytest.raises(InvalidConfiguration, match="TEAM_SYNC_RETRY_BACKOFF_S"):
            load_settings({**ENV, "TEAM_SYNC_RETRY_BACKOFF_S": bad})


def test_the_queue_redrive_matches_the_attempts_and_the_backoff():
    redrive = template_resources()["TeamSyncQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == MAX_ATTEMPTS == len(load_settings(ENV).team_sync_retry_backoff_s)


# ------------------------------------------------------------------ job and schedule models


def test_a_job_is_strict():
    job = TeamSyncJob.model_validate_json(
        '{"company_id": "salon-demo", "trigger": "schedule", "requested_at": "2026-03-02T00:30:00Z"}'
    )
    assert job.company_id == "salon-demo" and job.requested_at == NOW
    for body in (
        "not json",
        '{"company_id": "salon demo!", "trigger": "schedule", "requested_at": "2026-03-02T00:30:00Z"}',
        '{"company_id": "salon-demo", "trigger": "cron", "requested_at": "2026-03-02T00:30:00Z"}',
        '{"company_id": "salon-demo", "trigger": "schedule", "requested_at": "2026-03-02T00:30:00"}',
        '{"company_id": "salon-demo", "trigger": "schedule", "requested_at": "2026-03-02T00:30:00Z", "x": 1}',
        '["salon-demo"]',
    ):
        with pytest.raises(ValidationError):
            TeamSyncJob.model_validate_json(body)


def test_the_schedule_targets_input_is_a_schedule_event():
    """What Scheduler delivers (the template's Input, context attributes filled in) parses."""
    text = template_resources()["TeamSyncSchedule"]["Properties"]["Target"]["Input"]
    for placeholder, value in (
        ("<aws.scheduler.scheduled-time>", "2026-03-02T00:30:00Z"),
        ("<aws.scheduler.schedule-arn>", "arn:aws:scheduler:eu-central-1:123456789012:schedule/default/x"),
        ("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3"),
        ("<aws.scheduler.attempt-number>", "1"),
    ):
        text = text.replace(placeholder, value)
    event = ScheduleEvent.model_validate(json.loads(text))
    assert event.scheduled_time == NOW and event.attempt == 1
    sample = json.loads((REPO / "events" / "team_sync_schedule.json").read_text(encoding="utf-8"))
    assert ScheduleEvent.model_validate(sample).scheduled_time == NOW


# ------------------------------------------------------------------ fan-out


def test_fan_out_enqueues_companies_with_a_team_and_skips_the_others_with_a_reason():
    queue = Queue()
    fan_out = TeamSyncFanOut(
        Companies(company("salon-a"), company("salon-b", 1), company("studio", None)), queue
    )
    result = fan_out.enqueue_all(NOW)
    assert result.enqueued == {"salon-a": "msg-salon-a", "salon-b": "msg-salon-b"}
    assert result.skipped == {"studio": "no Cal.com team id (calcom_team_id is not set)"}
    assert [(j.company_id, j.trigger, j.requested_at) for j in queue.sent] == [
        ("salon-a", "schedule", NOW),
        ("salon-b", "schedule", NOW),
    ]
    assert metric("TeamSyncJobsEnqueued") == [2] and metric("TeamSyncCompaniesSkipped") == [1]


def test_an_admins_job_names_the_admin_and_needs_a_team():
    queue = Queue()
    fan_out = TeamSyncFanOut(Companies(company("salon-a"), company("studio", None)), queue)
    assert fan_out.enqueue_one("salon-a", requested_by="arn:aws:iam::1:user/alice", now=NOW) == "msg-1"
    assert queue.sent[0].trigger == "admin" and queue.sent[0].requested_by == "arn:aws:iam::1:user/alice"
    with pytest.raises(NoCalcomTeam):
        fan_out.enqueue_one("studio", requested_by="alice")
    with pytest.raises(UnknownCompany):
        fan_out.enqueue_one("nobody", requested_by="alice")
    assert len(queue.sent) == 1


# ------------------------------------------------------------------ one company's run


def test_a_run_holds_the_lease_stores_and_counts_its_report():
    sync, leases, runs = Sync(), Leases(), Runs()
    run = runner(sync, Companies(company("salon-a")), leases, runs).run(
        "salon-a", "schedule", deadline_s=500, job_id="msg-1"
    )
    assert sync.calls == [("salon-a", 300)]  # capped by the configured maximum
    assert run.report.status == "ok" and run.report.finished_at == NOW
    assert runs.saved == [run] and run.job_id == "msg-1" and run.trigger == "schedule"
    assert leases.held == {} and leases.released == ["run-1"]
    assert metric("TeamSyncRunOk") == [1] and metric("TeamSyncMembersSynced") == [4]
    assert {f"TeamSync{''.join(p.capitalize() for p in c.split('_'))}" for c in REPORT_COUNTERS} <= set(
        metrics.metric_set
    )


def test_an_overlapping_run_is_skipped_and_leaves_the_other_runs_lease():
    sync, leases, runs = Sync(), Leases(), Runs()
    leases.acquire("salon-a", "sync", "nightly-run", ttl_s=360, now=NOW)
    run = runner(sync, Companies(company("salon-a")), leases, runs).run("salon-a", "admin", deadline_s=300)
    assert run.report.status == "skipped" and sync.calls == []
    assert "another team sync of this company is running (run nightly-run" in run.report.skipped[0].reason
    assert runs.saved == [run]
    assert leases.held[("salon-a", "sync")][0] == "nightly-run"
    assert metric("TeamSyncRunSkipped") == [1]


def test_an_expired_lease_of_a_dead_run_is_taken_over():
    sync, leases = Sync(), Leases()
    leases.acquire("salon-a", "sync", "dead-run", ttl_s=360, now=NOW - timedelta(hours=1))
    run = runner(sync, Companies(company("salon-a")), leases).run("salon-a", "schedule", deadline_s=300)
    assert run.report.status == "ok" and sync.calls


def test_unknown_company_and_company_without_team_are_skipped_with_a_reason():
    runs = Runs()
    run_ = runner(Sync(), Companies(company("studio", None)), runs=runs)
    unknown = run_.run("nobody", "on_demand", deadline_s=300)
    assert unknown.report.status == "skipped" and unknown.report.skipped[0].reason == "unknown company"
    no_team = run_.run("studio", "on_demand", deadline_s=300)
    assert no_team.report.skipped[0].reason.startswith("no Cal.com team id")
    assert runs.saved == [no_team]  # nothing is stored under a company that does not exist


def test_a_failing_sync_stores_a_failed_report_releases_the_lease_and_asks_for_a_retry():
    leases, runs = Leases(), Runs()
    sync = Sync(CalcomUnavailable("Cal.com answered 503", status_code=503))
    with pytest.raises(SyncAttemptFailed) as failed:
        runner(sync, Companies(company("salon-a")), leases, runs).run("salon-a", "schedule", deadline_s=300)
    assert failed.value.run.report.status == "failed"
    assert failed.value.run.report.errors == ["CalcomUnavailable: Cal.com answered 503"]
    assert runs.saved == [failed.value.run] and leases.held == {}
    assert metric("TeamSyncRunFailed") == [1]


def test_a_bug_in_the_sync_is_reported_by_type_only():
    with pytest.raises(SyncAttemptFailed) as failed:
        runner(Sync(KeyError("secret detail")), Companies(company("salon-a"))).run(
            "salon-a", "schedule", deadline_s=300
        )
    assert failed.value.run.report.errors == ["unexpected error: KeyError"]


def test_an_unavailable_store_before_the_sync_asks_for_a_retry():
    sync = Sync()
    with pytest.raises(SyncAttemptFailed):
        runner(sync, Companies(company("salon-a"), fail=True)).run("salon-a", "schedule", deadline_s=300)
    assert sync.calls == []


# ------------------------------------------------------------------ the worker


def message(body: str, receive_count: int = 1) -> QueuedJob:
    return QueuedJob(message_id="m-1", body=body, receipt_handle="rh-1", receive_count=receive_count)


JOB = '{"company_id": "salon-a", "trigger": "schedule", "requested_at": "2026-03-02T00:30:00Z"}'


@pytest.mark.parametrize("body", ["", "{", '{"company_id": 5}', '{"company_id": "salon-a"}'])
def test_a_body_that_is_no_job_is_dropped_not_retried(body):
    queue, sync = Queue(), Sync()
    worker = TeamSyncWorker(runner(sync, Companies(company("salon-a"))), queue, (60, 300, 900))
    assert worker.process_message(message(body), deadline_s=285) is None
    assert queue.postponed == [] and sync.calls == []
    assert metric("TeamSyncJobsRejected") == [1]


@pytest.mark.parametrize(("receive_count", "delay"), [(1, 60), (2, 300), (3, 900)])
def test_a_failed_attempt_is_postponed_by_its_backoff_and_fails(receive_count, delay):
    queue = Queue()
    sync = Sync(CalcomUnavailable("down"))
    worker = TeamSyncWorker(runner(sync, Companies(company("salon-a"))), queue, (60, 300, 900))
    with pytest.raises(SyncAttemptFailed):
        worker.process_message(message(JOB, receive_count), deadline_s=285)
    assert queue.postponed == [("rh-1", delay)]
    assert metric("TeamSyncJobsExhausted") == ([1] if receive_count == MAX_ATTEMPTS else [])


def test_a_failed_attempt_still_fails_when_it_cannot_be_postponed():
    worker = TeamSyncWorker(
        runner(Sync(CalcomUnavailable("down")), Companies(company("salon-a"))),
        Queue(fail_postpone=True),
        (60,),
    )
    with pytest.raises(SyncAttemptFailed):
        worker.process_message(message(JOB), deadline_s=285)


def test_a_job_runs_with_its_message_id():
    runs = Runs()
    worker = TeamSyncWorker(runner(Sync(), Companies(company("salon-a")), runs=runs), Queue(), (60,))
    run = worker.process_message(message(JOB), deadline_s=285)
    assert run is not None and run.job_id == "m-1" and runs.saved == [run]


# ------------------------------------------------------------------ batch sends


class FakeSqs:
    """SendMessageBatch with scripted per-entry failures (by job position in the whole send)."""

    def __init__(self, fail_once: set[str] = frozenset(), sender_fault: set[str] = frozenset()) -> None:
        self.calls: list[list[str]] = []
        self.fail_once, self.sender_fault = set(fail_once), set(sender_fault)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([json.loads(e["MessageBody"])["company_id"] for e in Entries])
        ok, failed = [], []
        for entry in Entries:
            company_id = json.loads(entry["MessageBody"])["company_id"]
            if company_id in self.sender_fault:
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue"})
            elif company_id in self.fail_once:
                self.fail_once.discard(company_id)
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
            else:
                ok.append({"Id": entry["Id"], "MessageId": f"id-{company_id}"})
        return {"Successful": ok, "Failed": failed}


def test_send_many_batches_by_ten_and_resends_what_sqs_failed_on_its_side():
    from calbridge.adapters.queue import JobQueue

    jobs = [TeamSyncJob(company_id=f"c{n:02}", trigger="schedule", requested_at=NOW) for n in range(12)]
    sqs = FakeSqs(fail_once={"c03"}, sender_fault={"c11"})
    result = JobQueue("https://queue", client_factory=lambda: sqs).send_many(jobs)
    assert (
        sqs.calls[1] == ["c03"] and sqs.calls[2] == ["c10", "c11"] and len(sqs.calls) == 3
    )  # c11: never again
    assert set(result.message_ids) == set(range(11))
    assert list(result.failures) == [11] and "InvalidParameterValue" in result.failures[11]


# ------------------------------------------------------------------ local stack: Lambda's SQS rules


def invoke_result(answer: Any, error: bool = False) -> InvokeResult:
    return InvokeResult(payload=json.dumps(answer).encode(), function_error="Unhandled" if error else None)


@pytest.mark.parametrize(
    ("answer", "error", "reports", "failed"),
    [
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, False, True, ["b"]),
        ({"batchItemFailures": []}, False, True, []),
        (None, False, True, []),
        ({}, False, True, []),
        ({"batchItemFailures": [{"itemIdentifier": "zz"}]}, False, True, ["a", "b", "c"]),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, False, True, ["a", "b", "c"]),
        ({"batchItemFailures": [{"id": "b"}]}, False, True, ["a", "b", "c"]),
        ("text", False, True, ["a", "b", "c"]),
        ({"errorType": "Boom"}, True, True, ["a", "b", "c"]),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, False, False, []),  # not reported: ignored
    ],
)
def test_local_sqs_delivery_keeps_what_lambda_would_keep(answer, error, reports, failed):
    assert failed_message_ids(invoke_result(answer, error), ["a", "b", "c"], reports) == failed


def test_local_sqs_record_has_lambdas_shape():
    received = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "abc",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "Ignored": "x"},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "job"}},
    }
    record = lambda_sqs_record(received, "arn:aws:sqs:eu-central-1:123456789012:q", "eu-central-1")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "messageAttributes": {
            "kind": {
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
                "stringValue": "job",
            }
        },
        "md5OfBody": "abc",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:q",
        "awsRegion": "eu-central-1",
    }
