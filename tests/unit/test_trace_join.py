"""The X-Ray half of one trace per call (docs/adr/0034-one-trace-per-call.md), as Lambda runs it: a
process of its own with tracing on and the invocation's trace header in `_X_AMZN_TRACE_ID`, its
segments sent to a UDP "daemon" this test listens on. StartSyncExecution, sent from the worker
thread that `start_sync` waits on, carries the invocation's trace (so Step Functions joins the
saga to it), and `follow`'s ids are annotations of the handler's segment."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading

from calbridge.observability import follow, logger
from local.template import load_template
from tests.template.test_cold_imports import REPO, _lambda_environment

ROOT = "1-67890abc-0123456789abcdef01234567"
PROBE = """
import json
import boto3
from botocore.awsrequest import AWSResponse
from calbridge.observability import follow, tracer
from calbridge.services.booking import start_sync

sent = []


class Body:
    def __init__(self, data):
        self.data = data

    def stream(self, **_):
        yield self.data


def step_functions(request, **_):  # answers instead of AWS, after botocore prepared the request
    header = request.headers.get("X-Amzn-Trace-Id")
    sent.append(header.decode() if isinstance(header, bytes) else header)
    answer = {"executionArn": "arn:aws:states:eu-central-1:123456789012:express:booking:bk_1:1",
              "startDate": 0, "stopDate": 0, "status": "SUCCEEDED", "output": "{}"}
    body = Body(json.dumps(answer).encode())
    return AWSResponse("https://states.eu-central-1.amazonaws.com", 200, {}, body)


client = boto3.client("stepfunctions", region_name="eu-central-1")
client.meta.events.register("before-send", step_functions)


class Context:
    function_name = "RetellWebhookFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:RetellWebhookFunction"
    aws_request_id = "request-1"

    def get_remaining_time_in_millis(self):
        return 10_000


@tracer.capture_lambda_handler
def handler(event, context):
    follow(call_id="call_traced", company_id="salon-demo")
    start_sync(client, 5.0, stateMachineArn="arn:aws:states:eu-central-1:123456789012:stateMachine:booking",
               name="bk_1", input="{}")
    return {}


handler({}, Context())
print(json.dumps({"tracing": not tracer.disabled, "trace_headers": sent}))
"""


def test_the_workflow_start_carries_the_invocations_trace_and_the_ids_are_annotations() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2.0)
    environment = _lambda_environment("functions/retell_webhook/")
    environment.update(
        _X_AMZN_TRACE_ID=f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
        AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    try:
        run = subprocess.run(
            [sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stderr
        segments = []
        while True:
            try:
                datagram = daemon.recv(65536).decode()
            except TimeoutError:
                break
            segments.append(json.loads(datagram.split("\n", 1)[1]))  # after the daemon's header line
    finally:
        daemon.close()

    probe = json.loads(run.stdout.strip().splitlines()[-1])
    assert probe["tracing"]
    [header] = probe["trace_headers"]
    fields = dict(part.split("=", 1) for part in header.split(";"))
    assert fields["Root"] == ROOT and fields["Sampled"] == "1", header

    assert {s["trace_id"] for s in segments} == {ROOT}, segments
    # The execution's segment hangs under the StartSyncExecution subsegment of the handler's trace.
    [start] = [s for s in segments if s.get("aws", {}).get("operation") == "StartSyncExecution"]
    assert fields["Parent"] == start["id"]
    [handler] = [s for s in segments if s["name"] == "## handler"]
    assert handler["annotations"]["call_id"] == "call_traced"
    assert handler["annotations"]["company_id"] == "salon-demo"


def test_every_function_and_every_workflow_is_traced() -> None:
    """What joins the traces in AWS: X-Ray active on every function (it traces their botocore
    calls, StartSyncExecution's header included), tracing on every state machine."""
    template = load_template(REPO / "template.yaml")
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions and all(r["Properties"].get("Tracing", "Active") == "Active" for r in functions)
    machines = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert set(machines) == {"BookingStateMachine", "CancelStateMachine", "RescheduleStateMachine"}
    assert all(r["Properties"]["Tracing"] == {"Enabled": True} for r in machines.values())


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.got: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.got.append(json.loads(self.format(record)))


def test_follow_names_ids_on_later_lines_in_threads_too_and_none_removes_one() -> None:
    lines = Lines()
    logger.addHandler(lines)
    logger.clear_state()
    try:
        follow(call_id="call_a", booking_id="bk_a", company_id=None)
        logger.info("first")
        worker = threading.Thread(target=logger.info, args=("from a thread the handler started",))
        worker.start()
        worker.join()
        follow(call_id="call_b", booking_id=None)  # an SQS batch's next record: its own ids only
        logger.info("second")
    finally:
        logger.clear_state()
        logger.thread_safe_clear_keys()
        logger.removeHandler(lines)
    named = [(r["message"], r.get("call_id"), r.get("booking_id"), r.get("company_id")) for r in lines.got]
    assert named == [
        ("first", "call_a", "bk_a", None),
        ("from a thread the handler started", "call_a", "bk_a", None),
        ("second", "call_b", None, None),
    ]
