"""The local stack on the fixture template (tests/fixtures/sfn): resources from the template's own
properties, our ASL run by moto's engine, Lambda tasks reaching our handlers in-process,
StartSyncExecution with AWS semantics, Retry and Catch, schedules, the CLI.

Production-like access throughout: plain `boto3.client(...)` / `boto3.resource(...)` with no
endpoint arguments; the stack points the standard SDK settings at moto.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from local.lambda_runtime import LocalFunction
from local.stack import LocalStack, LocalStackError, suspended_active_stack

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "sfn"
TEMPLATE = FIXTURE / "template.yaml"
CALCOM = "https://calcom.fixture.test"
DEMO_FIXTURE = REPO / "local" / "fixtures" / "salon_demo.json"


def test_functions_with_different_values_for_one_variable_fail_at_start_up(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        f"""
Transform: AWS::Serverless-2016-10-31
Resources:
  OneFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {FIXTURE / "functions" / "echo"}
      Handler: app.handler
      Runtime: python3.12
      Environment: {{Variables: {{MODE: one, SHARED: same}}}}
  TwoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {FIXTURE / "functions" / "echo"}
      Handler: app.handler
      Runtime: python3.12
      Environment: {{Variables: {{MODE: two, SHARED: same}}}}
""",
        encoding="utf-8",
    )
    with suspended_active_stack():
        before = dict(os.environ)
        with pytest.raises(LocalStackError) as failure:
            LocalStack(template, http_port=0).start()
        assert dict(os.environ) == before  # a failed start leaves the process as it was
    message = str(failure.value)
    assert "MODE" in message and "OneFunction" in message and "TwoFunction" in message
    assert "SHARED" not in message


SEEDED: dict[str, object] = {}


def seed(stack: LocalStack) -> None:
    """The seed hook: resources exist, the HTTP front is bound but does not answer yet."""
    boto3.resource("dynamodb").Table(stack.resources["LedgerTable"]).put_item(
        Item={"pk": "seed", "sk": "seed"}
    )
    SEEDED["front_ready"] = stack._front.ready.is_set()
    SEEDED["http_url"] = stack.http_url


@pytest.fixture(scope="module")
def stack():
    with (
        suspended_active_stack(),
        LocalStack(TEMPLATE, http_port=0, calcom_base_url=CALCOM, seed=seed) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def sfn(stack):
    return boto3.client("stepfunctions")


@pytest.fixture(scope="module")
def ledger(stack):
    return boto3.resource("dynamodb").Table(stack.resources["LedgerTable"])


def run(sfn, stack, machine: str, payload: dict) -> dict:
    response = sfn.start_sync_execution(stateMachineArn=stack.resources[machine], input=json.dumps(payload))
    response.pop("ResponseMetadata", None)
    return response


def items_of(ledger, run_id: str) -> dict[str, dict]:
    found = ledger.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": run_id})
    return {item["sk"]: item for item in found["Items"]}


# ------------------------------------------------------------------------------ start-up


def test_start_up_is_fast_and_sets_the_standard_sdk_settings(stack) -> None:
    assert stack.startup_seconds is not None and stack.startup_seconds < 5, stack.startup_seconds
    assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_url
    assert os.environ["MOTO_PORT"] == stack.moto_url.rsplit(":", 1)[1]
    assert os.environ["AWS_DISABLE_HOST_PREFIX_INJECTION"] == "true"
    assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"


def test_only_one_stack_runs_per_process(stack) -> None:
    with pytest.raises(LocalStackError, match="already running"):
        LocalStack(TEMPLATE, http_port=0).start()


def test_function_environment_comes_from_the_template(stack) -> None:
    assert os.environ["LEDGER_TABLE"] == "LedgerTable"
    assert os.environ["WORK_QUEUE_URL"] == stack.resources["WorkQueue"]
    assert os.environ["CALCOM_BASE_URL"] == CALCOM
    assert os.environ["RETELL_API_KEY_SECRET"] == "fixture/retell-api-key"
    config = boto3.client("lambda").get_function_configuration(FunctionName="EchoFunction")
    assert config["Environment"]["Variables"]["LEDGER_TABLE"] == "LedgerTable"
    assert config["Timeout"] == 5 and config["MemorySize"] == 256
    names = {f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]}
    assert names == {"StepOneFunction", "FlakyFunction", "CompensateFunction", "EchoFunction"}


def test_tables_and_queues_are_created_from_their_template_properties(stack) -> None:
    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName="LedgerTable")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_kind"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    ttl = ddb.describe_time_to_live(TableName="LedgerTable")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    sqs = boto3.client("sqs")
    work = sqs.get_queue_attributes(QueueUrl=stack.resources["WorkQueue"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert work["VisibilityTimeout"] == "30"
    assert json.loads(work["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:eu-central-1:123456789012:fixture-work-dlq",
        "maxReceiveCount": 3,
    }
    assert stack.resources["WorkDeadLetterQueue"].endswith("/123456789012/fixture-work-dlq")


def test_secrets_and_ssm_parameters_get_local_values(stack) -> None:
    secrets = boto3.client("secretsmanager")
    value = secrets.get_secret_value(SecretId="fixture/retell-api-key")["SecretString"]
    assert value == "key_local_calbridge_dev"
    value = secrets.get_secret_value(SecretId="fixture/calcom-webhook-secret")["SecretString"]
    assert value == "whsec_local_calbridge_dev"
    ssm = boto3.client("ssm").get_parameter(Name="/fixture/calcom-base-url")["Parameter"]
    assert ssm["Value"] == CALCOM


def test_state_machines_get_their_substituted_definitions(stack, sfn) -> None:
    booking = sfn.describe_state_machine(stateMachineArn=stack.resources["BookingStateMachine"])
    assert booking["type"] == "EXPRESS"
    definition = json.loads(booking["definition"])
    assert definition["States"]["Prepare"]["Resource"] == stack.arn("StepOneFunction")
    assert definition["States"]["Flaky"]["Parameters"]["FunctionName"] == stack.arn("FlakyFunction")
    assert "${" not in booking["definition"]
    standard = sfn.describe_state_machine(stateMachineArn=stack.resources["StandardStateMachine"])
    assert standard["type"] == "STANDARD"


def test_seed_runs_after_the_resources_and_before_requests(stack, ledger) -> None:
    assert ledger.get_item(Key={"pk": "seed", "sk": "seed"})["Item"]
    assert SEEDED["front_ready"] is False
    assert SEEDED["http_url"] == stack.http_url


# ---------------------------------------------------------------------- Step Functions


def test_sync_execution_runs_our_asl_through_our_handlers(stack, sfn, ledger) -> None:
    run_id = f"ok-{uuid.uuid4().hex[:8]}"
    result = run(sfn, stack, "BookingStateMachine", {"run_id": run_id, "items": ["a", "b", "c"]})

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {
        "run_id": run_id,
        "attempts": 1,
        "recorded": [{"item": i, "ok": True} for i in ("a", "b", "c")],
    }
    assert ":express:BookingStateMachine:" in result["executionArn"]
    assert result["stateMachineArn"] == stack.resources["BookingStateMachine"]
    assert "error" not in result and "cause" not in result
    # side effects of the handlers, in the table the template declares
    items = items_of(ledger, run_id)
    assert set(items) == {"step#prepare", "step#a", "step#b", "step#c", "attempts"}
    # each function got its own sibling module `ledger` (step/ledger.py vs flaky/ledger.py)
    assert items["step#a"]["kind"] == "step" and items["attempts"]["kind"] == "flaky"
    assert items["attempts"]["attempts"] == 1


def test_retry_fires_on_the_exception_class_name(stack, sfn, ledger) -> None:
    run_id = f"retry-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    result = run(sfn, stack, "BookingStateMachine", {"run_id": run_id, "fail_times": 1, "items": []})

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["attempts"] == 2
    assert items_of(ledger, run_id)["attempts"]["attempts"] == 2
    assert time.monotonic() - started >= 1.0  # IntervalSeconds: 1


def test_catch_runs_compensation_then_fails(stack, sfn, ledger) -> None:
    run_id = f"perm-{uuid.uuid4().hex[:8]}"
    result = run(sfn, stack, "BookingStateMachine", {"run_id": run_id, "permanent": True, "items": ["a"]})

    assert result["status"] == "FAILED"
    assert result["error"] == "BookingFailed"
    assert result["cause"] == "a step failed; compensation ran"
    assert "output" not in result
    items = items_of(ledger, run_id)
    assert items["attempts"]["attempts"] == 1  # PermanentError is not retried
    assert items["compensated"]["error"] == "PermanentError"
    cause = json.loads(items["compensated"]["cause"])  # the Lambda error payload
    assert cause["errorType"] == "PermanentError"
    assert cause["errorMessage"] == f"run {run_id} cannot succeed"
    assert "step#a" not in items  # the Map never ran


def test_exhausted_retries_are_caught(stack, sfn, ledger) -> None:
    run_id = f"exhaust-{uuid.uuid4().hex[:8]}"
    result = run(sfn, stack, "BookingStateMachine", {"run_id": run_id, "fail_times": 9, "items": []})

    assert result["status"] == "FAILED" and result["error"] == "BookingFailed"
    items = items_of(ledger, run_id)
    assert items["attempts"]["attempts"] == 3  # 1 + MaxAttempts 2
    assert items["compensated"]["error"] == "TransientError"


def test_a_failure_inside_the_map_is_caught(stack, sfn, ledger) -> None:
    run_id = f"map-{uuid.uuid4().hex[:8]}"
    result = run(sfn, stack, "BookingStateMachine", {"run_id": run_id, "items": ["a", "explode"]})

    assert result["status"] == "FAILED" and result["error"] == "BookingFailed"
    assert items_of(ledger, run_id)["compensated"]["error"] == "RecordFailed"


def test_concurrent_executions_of_one_definition_count_their_own_retries(stack, sfn, ledger) -> None:
    """The local stack parses a definition once (local/moto_ext.py): executions share the parsed
    program, each keeping its retry counts to itself."""
    run_ids = [f"par-{i}-{uuid.uuid4().hex[:8]}" for i in range(3)]
    results: dict[str, dict] = {}

    def execute(run_id: str) -> None:
        results[run_id] = run(
            sfn, stack, "BookingStateMachine", {"run_id": run_id, "fail_times": 1, "items": []}
        )

    threads = [threading.Thread(target=execute, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {run_id: results[run_id]["status"] for run_id in run_ids} == dict.fromkeys(run_ids, "SUCCEEDED")
    assert [items_of(ledger, run_id)["attempts"]["attempts"] for run_id in run_ids] == [2, 2, 2]


def test_a_cancelled_transaction_restores_exactly_the_items_it_touched(stack, ledger) -> None:
    """moto's rollback is replaced by one of only the touched items (local/moto_ext.py): a put over
    an item, a delete, an update and a new put are all undone; other items are left alone."""
    pk = f"tx-{uuid.uuid4().hex[:8]}"
    for sk, value in (("put", "old"), ("delete", "old"), ("update", "old"), ("other", "old")):
        ledger.put_item(Item={"pk": pk, "sk": sk, "value": value})
    table = ledger.name

    def key(sk: str) -> dict:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    with pytest.raises(ClientError) as cancelled:
        boto3.client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**key("put"), "value": {"S": "new"}}}},
                {"Delete": {"TableName": table, "Key": key("delete")}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("update"),
                        "UpdateExpression": "SET #v = :v",
                        "ExpressionAttributeNames": {"#v": "value"},
                        "ExpressionAttributeValues": {":v": {"S": "new"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {**key("created"), "value": {"S": "new"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("missing"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert {sk: item["value"] for sk, item in items_of(ledger, pk).items()} == {
        "put": "old",
        "delete": "old",
        "update": "old",
        "other": "old",
    }


def test_standard_machines_reject_start_sync_execution(stack, sfn) -> None:
    with pytest.raises(ClientError) as failure:
        run(sfn, stack, "StandardStateMachine", {"run_id": "x"})
    assert failure.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_start_execution_and_describe_execution(stack, sfn, ledger) -> None:
    run_id = f"std-{uuid.uuid4().hex[:8]}"
    arn = sfn.start_execution(
        stateMachineArn=stack.resources["StandardStateMachine"],
        input=json.dumps({"run_id": run_id, "item": "standard"}),
    )["executionArn"]
    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"item": "standard", "ok": True}
    assert "step#standard" in items_of(ledger, run_id)


# ---------------------------------------------------------------------------- Lambda


def test_lambda_invoke_reaches_the_handler_with_lambda_error_semantics(stack) -> None:
    client = boto3.client("lambda")
    ok = client.invoke(FunctionName="EchoFunction", Payload=json.dumps({"hello": "wörld"}))
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"received": {"hello": "wörld"}, "function": "EchoFunction"}

    failed = client.invoke(
        FunctionName=stack.arn("FlakyFunction"), Payload=json.dumps({"run_id": "inv", "permanent": True})
    )
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "PermanentError"
    assert error["errorMessage"] == "run inv cannot succeed"
    assert isinstance(error["stackTrace"], list) and error["stackTrace"]


def test_event_invocations_run_in_the_background(stack, ledger) -> None:
    run_id = f"event-{uuid.uuid4().hex[:8]}"
    response = boto3.client("lambda").invoke(
        FunctionName="StepOneFunction",
        InvocationType="Event",
        Payload=json.dumps({"run_id": run_id, "item": "e"}),
    )
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 5
    while "step#e" not in items_of(ledger, run_id):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_in_process_invoke_gives_a_lambda_context(stack) -> None:
    result = stack.invoke("EchoFunction", {"n": 1})
    assert result.function_error is None
    assert result.json() == {"received": {"n": 1}, "function": "EchoFunction"}
    failed = stack.invoke("StepOneFunction", {"run_id": "x", "item": "explode"})
    assert failed.function_error == "Unhandled" and failed.json()["errorType"] == "ValueError"


def test_timeouts_json_round_trip_and_decimals(tmp_path: Path) -> None:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        "import decimal, time\n"
        "def slow(event, context):\n"
        "    time.sleep(0.1)\n"
        "    return {'remaining': context.get_remaining_time_in_millis()}\n"
        "def numbers(event, context):\n"
        "    return {'event': event, 'half': decimal.Decimal('1.5'), 'two': decimal.Decimal(2)}\n",
        encoding="utf-8",
    )
    slow = LocalFunction("Slow", "Slow", "arn:slow", code, "app.slow", timeout_s=0.05)
    slow.load([code])
    timed_out = slow.invoke({})
    assert timed_out.function_error == "Unhandled" and timed_out.error_type == "Sandbox.Timedout"
    assert timed_out.json()["errorMessage"] == "Task timed out after 0.05 seconds"
    assert slow.invoke({}, enforce_timeout=False).json() == {"remaining": 0}

    numbers = LocalFunction("Numbers", "Numbers", "arn:numbers", code, "app.numbers")
    numbers.load([code])
    assert numbers.invoke(rb'{"t": [1, 2.5, "\u00fc"]}').json() == {
        "event": {"t": [1, 2.5, "ü"]},
        "half": 1.5,
        "two": 2,
    }
    assert numbers.module is not slow.module  # one module per function, though both are app.py


def test_overlapping_invocations_run_on_instances_of_their_own(tmp_path: Path) -> None:
    """As in Lambda, an instance serves one request at a time: module state (a Powertools
    resolver's current event, say) is never shared by two requests in flight."""
    code = tmp_path / "fn"
    code.mkdir()
    # The barrier lives in a sibling module, which the instances share (they import it by name).
    (code / "meeting.py").write_text("import threading\narrived = threading.Barrier(2)\n", encoding="utf-8")
    (code / "app.py").write_text(
        "import time\n"
        "from meeting import arrived\n"
        "current = None\n"
        "def handler(event, context):\n"
        "    global current\n"
        "    current = event['n']\n"
        "    if event.get('overlap'):\n"
        "        arrived.wait(timeout=5)\n"
        "        time.sleep(0.05)\n"
        "    return {'n': current, 'instance': __name__}\n",
        encoding="utf-8",
    )
    fn = LocalFunction("Counter", "Counter", "arn:counter", code, "app.handler")
    fn.load([code])
    results: dict[int, dict] = {}

    def call(n: int) -> None:
        results[n] = fn.invoke({"n": n, "overlap": True}).json()

    threads = [threading.Thread(target=call, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[n]["n"] for n in (1, 2)] == [1, 2]
    assert results[1]["instance"] != results[2]["instance"]
    assert fn.module is not None and fn.module.__name__ in {results[1]["instance"], results[2]["instance"]}
    # One request at a time runs on the first instance, the one tests and the bench may patch.
    assert [fn.invoke({"n": n}).json()["instance"] for n in (3, 4)] == [fn.module.__name__] * 2


def test_two_http_functions_in_flight_each_resolve_their_own_request(tmp_path: Path) -> None:
    """Powertools keeps the request being resolved on the resolvers' common base class; in Lambda
    one process serves one request, here two functions' requests overlap in one process: each must
    still read its own (local/lambda_runtime.py, `_one_request_per_thread`)."""
    functions = []
    for name in ("first", "second"):
        code = tmp_path / name
        code.mkdir()
        (code / "app.py").write_text(
            "import time\n"
            "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
            "app = APIGatewayHttpResolver()\n"
            "@app.get('/echo')\n"
            "def echo():\n"
            "    asked = app.current_event.query_string_parameters['n']\n"
            "    time.sleep(0.05)  # the other request is resolved meanwhile\n"
            "    return {'asked': asked, 'read_after': app.current_event.query_string_parameters['n']}\n"
            "def handler(event, context):\n"
            "    return app.resolve(event, context)\n",
            encoding="utf-8",
        )
        fn = LocalFunction(name, name, f"arn:{name}", code, "app.handler")
        fn.load([code])
        functions.append(fn)

    def request(n: int) -> dict:
        return {
            "version": "2.0", "routeKey": "GET /echo", "rawPath": "/echo", "rawQueryString": f"n={n}",
            "queryStringParameters": {"n": str(n)}, "headers": {}, "isBase64Encoded": False,
            "requestContext": {"http": {"method": "GET", "path": "/echo", "sourceIp": "127.0.0.1"},
                               "stage": "$default"},
        }  # fmt: skip

    answers: dict[int, dict] = {}

    def call(fn: LocalFunction, n: int) -> None:
        answers[n] = json.loads(fn.invoke(request(n)).json()["body"])

    threads = [threading.Thread(target=call, args=(fn, n)) for n, fn in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {0: {"asked": "0", "read_after": "0"}, 1: {"asked": "1", "read_after": "1"}}


# ------------------------------------------------------------------------- schedules


def test_fire_schedule_delivers_the_target_input(stack) -> None:
    daily = stack.fire_schedule("DailyEchoSchedule")
    assert daily["received"] == {"source": "daily", "region": "eu-central-1", "table": "LedgerTable"}
    nightly = stack.fire_schedule("Nightly")  # a ScheduleV2 event of EchoFunction
    assert nightly["received"]["source"] == "nightly"
    assert nightly["received"]["schedule"].startswith("arn:aws:scheduler:eu-central-1:123456789012:schedule/")
    hourly = stack.fire_schedule("EchoFunctionHourly")  # a Schedule (EventBridge rule) event
    assert hourly["received"] == {"source": "hourly-rule"}

    schedule = boto3.client("scheduler").get_schedule(Name="DailyEchoSchedule", GroupName="fixture-group")
    assert schedule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert schedule["Target"]["Arn"] == stack.arn("EchoFunction")
    rule = boto3.client("events").describe_rule(Name="EchoFunctionHourly")
    assert rule["ScheduleExpression"] == "rate(1 hour)"


# ----------------------------------------------------------------------------- reset


def test_reset_empties_the_tables_and_keeps_them(stack, ledger) -> None:
    ledger.put_item(Item={"pk": "reset", "sk": "x"})
    stack.reset()
    assert ledger.scan()["Items"] == []
    assert (
        boto3.client("dynamodb").describe_table(TableName="LedgerTable")["Table"]["TableStatus"] == "ACTIVE"
    )


# ------------------------------------------------------------------------------- CLI


def _standin_available() -> bool:
    try:
        import local.calcom_standin  # noqa: F401
    except ImportError:
        return False
    return True


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "CALCOM_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "layers" / "calbridge")])
    return env


def test_cli_invoke_and_serve(tmp_path: Path) -> None:
    """`python -m local invoke` prints the result; `serve` prints its URLs, serves, exits 0 on SIGTERM.

    Both run at once (fresh interpreters take a few seconds each). `serve` runs with the Cal.com
    stand-in (the CLI default) when it is available: then its URL is the functions' Cal.com base
    URL and the Cal.com API key secret holds the fixture's key.
    """
    event = tmp_path / "event.json"
    event.write_text('{"ping": "pong"}', encoding="utf-8")
    common = ["--template", str(TEMPLATE), "--no-seed"]
    options = {
        "cwd": REPO,
        "env": _cli_env(),
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "text": True,
    }
    invoke = subprocess.Popen(
        [sys.executable, "-m", "local", "invoke", "EchoFunction", "-e", str(event), *common, "--no-standin"],
        **options,
    )
    standin = _standin_available()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local",
            "serve",
            "--port",
            "0",
            *common,
            *([] if standin else ["--no-standin"]),
        ],
        **options,
    )
    try:
        lines = []
        assert serve.stdout is not None
        for line in serve.stdout:
            lines.append(line.rstrip("\n"))
            if line.strip() == "calbridge local stack ready":
                break
        urls = dict(line.split(": ", 1) for line in lines[:-1])
        calcom = "Cal.com stand-in" if standin else "Cal.com"
        assert set(urls) == {"HTTP front", calcom, "moto"}, lines
        request = urllib.request.Request(
            urls["HTTP front"] + "/echo", data=b'{"a": 1}', headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            echoed = json.loads(response.read())
        assert json.loads(echoed["event"]["body"]) == {"a": 1}
        assert echoed["env"]["CALCOM_BASE_URL"] == urls[calcom]
        session = boto3.session.Session(
            aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-central-1"
        )
        secrets = session.client("secretsmanager", endpoint_url=urls["moto"])
        api_key = secrets.get_secret_value(SecretId="fixture/calcom-api-key")["SecretString"]
        if standin:
            assert urls[calcom].startswith("http://127.0.0.1:")
            assert api_key == json.loads(DEMO_FIXTURE.read_text(encoding="utf-8"))["calcom"]["api_key"]
        else:
            assert urls[calcom] == "https://api.cal.com"
            assert api_key == "cal_local_calbridge_dev"
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 0
        assert "Traceback" not in serve.stderr.read()  # type: ignore[union-attr]

        out, err = invoke.communicate(timeout=60)
        assert invoke.returncode == 0, err
        assert json.loads(out) == {"received": {"ping": "pong"}, "function": "EchoFunction"}
        assert "Traceback" not in err
    finally:
        for process in (serve, invoke):
            if process.poll() is None:
                process.kill()
                process.wait()
