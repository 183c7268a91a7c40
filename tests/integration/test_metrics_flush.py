"""Every function's metrics arrive: each handler of every function in template.yaml runs as Lambda
runs it, in a process of its own (tests/lambda_process.py: the handler module imported fresh, the
function's environment from the template, AWS and Cal.com being the local stack's moto server and
stand-in), on its sample from events/; what it prints must hold, by the end of each invocation,
an EMF record in the template's namespace for every metric the invocation added to its flush.

The local stack runs every function in one process, where Powertools' metric set is shared by all
of them: a handler without `@metrics.log_metrics` had its metrics printed by the next one that
flushed, so the stack could not show a missing flush. Here nobody else flushes.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.events import resign
from local.template import load_template
from tests.lambda_process import END, START

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
LAYER_DIRS = [str(REPO / "layers" / "calbridge")]
RUNNER = REPO / "tests" / "lambda_process.py"

#: The samples each function runs on (events/); booking step functions run their
#: events/booking_<handler>.json. EXPECTED: metrics each function's run must print (a handler that
#: does not flush fails there too, even if the spy missed what it recorded).
SAMPLES: dict[str, tuple[str, ...]] = {
    "RetellWebhookFunction": (
        "retell_inbound.json",
        "retell_functions_check_availability.json",
        "retell_event_call_started.json",
    ),
    "CalcomWebhookFunction": ("calcom_webhook_booking_cancelled.json",),
    "HostResolutionFunction": ("host_resolution_booking.json",),
    "AdminApiFunction": ("admin_sync_team.json",),
    "ConsoleFunction": ("console_index.json",),
    "WebBookingFunction": ("web_booking_get.json",),
    "EventTypeProvisionerFunction": ("event_type_provisioner.json",),
    "TeamSyncSchedulerFunction": ("team_sync_schedule.json",),
    "TeamSyncWorkerFunction": ("team_sync_sqs_batch.json",),
    "BookingRequestsWorkerFunction": ("booking_requests_sqs_batch.json",),
    "CompensationWorkerFunction": ("compensation_sqs_batch.json",),
    "NotificationsFunction": ("notifications_sqs_batch.json",),
    "ReconciliationSchedulerFunction": ("reconciliation_schedule.json",),
    "ReconciliationWorkerFunction": ("reconciliation_sqs_batch.json",),
}
EXPECTED: dict[str, set[str]] = {
    "AdminApiFunction": {"TeamSyncJobsEnqueued"},
    "BookingAssignStaffFunction": {"StaffAssigned"},  # issue 14: never printed before
    "BookingCompensateFunction": {"BookingCompensated", "BookingAttemptFailed", "CalcomLatency"},
    "BookingFinalizeFunction": {"BookingSucceeded", "BookedHolds"},
    "BookingRequestsWorkerFunction": {"BookingRequestJobsRejected"},
    "BookingReserveHoldFunction": {"CalcomLatency"},
    "CalcomWebhookFunction": {"CalcomWebhookReceived", "AppointmentNeedsAttention"},
    "CancelHoldFunction": {"CalcomLatency"},
    "CancelMarkFunction": {"AppointmentCancelled"},
    "CompensationWorkerFunction": {"DeferredCompensationDone"},
    "EventTypeProvisionerFunction": {"CalcomLatency"},
    "HostResolutionFunction": {"StaffAssigned"},
    "NotificationsFunction": {"ConfirmationEmailSent"},
    "ReconciliationSchedulerFunction": {"ReconciliationJobsEnqueued"},
    "ReconciliationWorkerFunction": {"ReconciliationRunOk", "OrphanedBookings"},
    "RescheduleSwapFunction": {"AppointmentRescheduled"},
    "RetellWebhookFunction": {
        *("InboundRouted", "ToolLatency", "SlotCacheHit", "SlotCacheMiss", "CalcomLatency"),
        "CallEventRecorded",
    },
    "TeamSyncSchedulerFunction": {"TeamSyncJobsEnqueued"},
    "TeamSyncWorkerFunction": {"TeamSyncMembersSynced", "CalcomLatency"},
    # Their samples record no metric (a plan, a lease, a read): the structural check covers them.
    "BookingPlanFunction": set(),
    "BookingAcquireLockFunction": set(),
    "CancelLoadFunction": set(),
    "RescheduleLoadFunction": set(),
    "WebBookingFunction": set(),
    "ConsoleFunction": set(),
}


def _functions() -> dict[str, dict[str, Any]]:
    resources = load_template(REPO / "template.yaml")["Resources"]
    return {
        lid: resource["Properties"]
        for lid, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


FUNCTIONS = _functions()


def _samples(lid: str) -> tuple[str, ...]:
    handler = FUNCTIONS[lid]["Handler"]
    if FUNCTIONS[lid]["CodeUri"].rstrip("/").endswith("booking_steps") and handler.startswith("app."):
        return (f"booking_{handler.rpartition('.')[2]}.json",)
    return SAMPLES[lid]


def _event(name: str) -> Any:
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return resign(event) if name.startswith("retell_") else event  # Retell's signature lasts 5 minutes


def _handler_definition(code_uri: str, handler: str) -> ast.FunctionDef:
    module, _, function = handler.rpartition(".")
    tree = ast.parse((REPO / code_uri / f"{module}.py").read_text(encoding="utf-8"))
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)


@pytest.mark.parametrize("lid", sorted(FUNCTIONS))
def test_every_handler_is_wrapped_by_log_metrics(lid):
    """The handler object Lambda calls flushes (what cannot be run offline is covered here too)."""
    definition = _handler_definition(FUNCTIONS[lid]["CodeUri"], FUNCTIONS[lid]["Handler"])
    decorators = [ast.unparse(d) for d in definition.decorator_list]
    assert "metrics.log_metrics" in decorators, f"{lid}: {FUNCTIONS[lid]['Handler']} does not flush metrics"


def test_every_function_has_a_sample_and_the_metrics_it_prints():
    missing = [lid for lid in FUNCTIONS if not all((EVENTS / name).is_file() for name in _samples(lid))]
    assert missing == []
    assert set(EXPECTED) == set(FUNCTIONS)


def _invocations(stdout: str) -> list[dict[str, Any]]:
    """Per invocation: the EMF records printed during it, what it added to its flush, its error."""
    invocations: list[dict[str, Any]] = []
    records: list[dict[str, Any]] | None = None
    for line in stdout.splitlines():
        if line.startswith(START):
            records = []
        elif line.startswith(END):
            assert records is not None
            invocations.append({"records": records, **json.loads(line.split(" ", 2)[2])})
            records = None
        elif records is not None and line.startswith("{"):
            document = json.loads(line)
            if isinstance(document, dict) and "_aws" in document:
                records.append(document)
    return invocations


def _run_in_own_process(stack, lid: str) -> list[dict[str, Any]]:
    properties = FUNCTIONS[lid]
    environment = {
        **os.environ,
        **stack.functions[lid].environment,
        # This test is about what an invocation prints, not how fast: a cold process on a busy
        # machine must not run out of a tool's budget before its Cal.com reads (and their metrics).
        "AVAILABILITY_BUDGET_MS": "25000",
        "TOOL_READ_BUDGET_MS": "29000",
        "TOOL_CHANGE_BUDGET_MS": "29000",
    }
    spec = {
        "code_uri": str(REPO / properties["CodeUri"]),
        "layer_dirs": LAYER_DIRS,
        "handler": properties["Handler"],
        "function_name": stack.functions[lid].name,
        "now": datetime.now(UTC).isoformat(),  # the tests' pinned today, running on
        "events": [_event(name) for name in _samples(lid)],
    }
    done = subprocess.run(
        [sys.executable, str(RUNNER)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return _invocations(done.stdout)


@pytest.mark.parametrize("lid", sorted(FUNCTIONS))
def test_each_invocation_prints_the_metrics_it_records(invoke_seeded, lid):
    namespace = invoke_seeded.functions[lid].environment["POWERTOOLS_METRICS_NAMESPACE"]

    invocations = _run_in_own_process(invoke_seeded, lid)

    assert len(invocations) == len(_samples(lid))
    printed_by_all: set[str] = set()
    for sample, invocation in zip(_samples(lid), invocations, strict=True):
        directives = [d for record in invocation["records"] for d in record["_aws"]["CloudWatchMetrics"]]
        assert {d["Namespace"] for d in directives} <= {namespace}
        printed = {metric["Name"] for d in directives for metric in d["Metrics"]}
        assert set(invocation["recorded"]) <= printed, (
            f"{lid} on {sample} recorded metrics it did not print: "
            f"{sorted(set(invocation['recorded']) - printed)} (error: {invocation['error']})"
        )
        printed_by_all |= printed
    assert EXPECTED[lid] <= printed_by_all, [i["error"] for i in invocations]
