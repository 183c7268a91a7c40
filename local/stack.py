"""The docker-free local stack: the whole system in one Python process, driven by template.yaml.

    with LocalStack("template.yaml", http_port=0, standin_fixture="local/fixtures/salon_demo.json") as s:
        requests.post(f"{s.http_url}/retell/inbound", ...)

What `start()` does, in order:
1. starts moto's server in this process (`ThreadedMotoServer`, 127.0.0.1) with the Step Functions
   ASL engine on and the extensions of `local.moto_ext` (StartSyncExecution, in-process Lambda);
2. points the standard AWS SDK settings of this process at it (`AWS_ENDPOINT_URL`, fake
   credentials, region, `AWS_DISABLE_HOST_PREFIX_INJECTION` for StartSyncExecution's `sync-` host
   prefix), so unmodified production code (boto3, PynamoDB) reaches moto;
3. starts the Cal.com stand-in unless a Cal.com base URL is given (argument or `CALCOM_BASE_URL`);
4. reads the template, resolves parameters and intrinsics locally (see `local.template`), and
   creates, from the template's own properties: DynamoDB tables, SQS queues, Secrets Manager
   secrets (resources, and one per `...SecretName` parameter), SSM parameters behind
   `AWS::SSM::Parameter::Value<...>` parameters, Lambda functions (registered in moto, handlers
   imported in-process), state machines (DefinitionUri/Definition + DefinitionSubstitutions),
   EventBridge Scheduler schedules and groups, EventBridge rules (also those SAM derives from
   `Schedule`/`ScheduleV2` function events), Cognito user pools with their app clients and groups
   (an env var naming Cognito's endpoint points at moto's server, where the browser signs in);
5. binds the HTTP front (API Gateway HTTP API, payload 2.0), subscribes its
   `/calcom/webhook/{company_id}` route (if the template has one) to the stand-in's signed webhooks
   for the fixture's company, with that company's secret, runs the seed callback, then lets
   requests through.

`stop()` shuts the servers down, resets moto, and undoes what `start()` changed in the process:
the environment variables it set, `sys.path`, and the modules it imported from the layer and
function folders. Handlers (and the layer) are imported afresh by every `start()`, after the
functions' environment is written, as a Lambda cold start would: code a test process imported
earlier under other settings does not leak into the stack. A stopped stack can be started again
(`suspended_active_stack()` uses that to give a test its own stack while another one runs).

Limitations (by design of "one process"):
* All functions share one `os.environ`. If two functions set one variable to different values
  start-up fails, naming both. Handlers are imported after the variables are written.
* One running stack per process (moto's state and the Lambda dispatch are process-wide).
* Schedules are created but not fired by a clock: call `fire_schedule(logical_id)`.
* SQS event sources (function events `Type: SQS`) are delivered by the stack, not by moto
  (local/sqs_source.py): `drain_queue(queue)` receives the visible messages in batches of the
  source's BatchSize, invokes the function with Lambda's SQS event and deletes what succeeded,
  honouring `ReportBatchItemFailures` (listed ids stay; a function error or a malformed answer
  keeps the whole batch). What stays becomes visible when its visibility timeout ends (the
  queue's, or what the function set), and moto counts the receives, so the redrive to a
  dead-letter queue happens by moto's own counting. With `poll_queues=True` (`make serve`), or
  `start_queue_polling()`, a background poller does this every 0.5 s. No batching window, no
  MaximumConcurrency, no long polling; FIFO ordering is moto's. `reset()` empties every queue.
* DynamoDB streams and EventBridge pattern rules are not wired to functions.

Local defaults (documented):
* secret values: env `RETELL_API_KEY` (default `key_local_calbridge_dev`), `CALCOM_API_KEY`
  (default: the stand-in fixture's `calcom.api_key`), `CALCOM_WEBHOOK_SECRET` (default
  `whsec_local_calbridge_dev`; each company's webhook secret `<CalcomWebhookSecretName>/<company_id>`
  has this value unless `company_webhook_secret` is given another); in general a parameter
  `<Stem>SecretName` takes its value from env `<STEM>` if the stem ends in Key/Secret/Token/Password,
  else `<STEM>_SECRET`.
* `AWS::SSM::Parameter::Value<...>` parameters: `parameter_overrides`, else env `<UPPER_SNAKE>` of
  the parameter name (CalcomBaseUrl -> CALCOM_BASE_URL), else `LOCAL_SSM_VALUES`.
  CalcomBaseUrl: `calcom_base_url`, else env, else the stand-in URL, else https://api.cal.com.
* physical names: the resource's own name property, else its logical id.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from local import iam, moto_ext
from local.http_front import HttpFront, Route
from local.jwt_authorizer import JwtAuthorizer
from local.lambda_runtime import InvokeResult, LocalFunction, restore_modules, take_modules_under
from local.sqs_source import SqsDelivery, SqsEventSource, SqsPoller, deliver_batch
from local.template import (
    ACCOUNT_ID,
    Resolver,
    TemplateError,
    camel_to_upper_snake,
    load_template,
    local_api_id,
    substitute_definition,
)

LOG = logging.getLogger("local.stack")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURE = PROJECT_ROOT / "local" / "fixtures" / "salon_demo.json"
DEFAULT_CALCOM_BASE_URL = "https://api.cal.com"

# Values of secrets named by `<Stem>SecretName` parameters when the env var is not set.
LOCAL_SECRET_DEFAULTS: dict[str, str] = {
    "RETELL_API_KEY": "key_local_calbridge_dev",
    "CALCOM_WEBHOOK_SECRET": "whsec_local_calbridge_dev",
    "CALCOM_API_KEY": "cal_local_calbridge_dev",  # replaced by the stand-in fixture's key if any
}
# Values of SSM parameters (by SSM parameter name) when neither an override nor an env var is set.
LOCAL_SSM_VALUES: dict[str, str] = {}
# Cal.com's shared rate limit (ADR 0027) in place of the template's, unless the `env` argument or
# the environment sets them. Every test's reseed resets the stand-in's limiter and empties ours, so
# a test's Cal.com traffic is one burst from a fresh window (its reseed alone provisions 15 event
# types, linking staff dozens more): with the template's burst of 10 tests would wait for permits
# the stand-in would not ask for. 100 at once, 115 in any 60 s, stays under its 120 per key.
LOCAL_RATE_LIMIT: dict[str, str] = {"CALCOM_RATE_LIMIT": "115", "CALCOM_RATE_BURST": "100"}

LAMBDA_ROLE = "calbridge-local-lambda"
STATES_ROLE = "calbridge-local-states"
_FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_SKIPPED_QUIETLY = {
    "AWS::Serverless::LayerVersion",
    "AWS::Lambda::LayerVersion",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::Lambda::Permission",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::CompositeAlarm",
    "AWS::CloudWatch::Dashboard",
    # Alerting (the topic the alarms tell, its e-mail subscription): no alarm fires locally.
    "AWS::SNS::Subscription",
}

# What the local stack passes on to moto of the template's user pools and app clients.
_USER_POOL_PROPERTIES = (
    "Policies",
    "UsernameAttributes",
    "AutoVerifiedAttributes",
    "AdminCreateUserConfig",
    "Schema",
    "AccountRecoverySetting",
)
_USER_POOL_CLIENT_PROPERTIES = (
    "GenerateSecret",
    "ExplicitAuthFlows",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "ReadAttributes",
    "WriteAttributes",
    "IdTokenValidity",
    "AccessTokenValidity",
    "RefreshTokenValidity",
    "TokenValidityUnits",
)
_COGNITO_ENDPOINT_PREFIX = "https://cognito-idp."

_active_lock = threading.Lock()
_active: LocalStack | None = None


class LocalStackError(Exception):
    """The local stack cannot start (template, environment or configuration problem)."""


class LocalStack:
    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        http_port: int = 3000,
        moto_port: int = 0,
        region: str = "eu-central-1",
        standin_fixture: str | Path | dict[str, Any] | None = None,
        calcom_base_url: str | None = None,
        seed: Callable[[LocalStack], None] | None = None,
        env: Mapping[str, str] | None = None,
        parameter_overrides: Mapping[str, Any] | None = None,
        standin_options: Mapping[str, Any] | None = None,
        enforce_timeouts: bool = True,
        stack_name: str = "calbridge",
        poll_queues: bool = False,
    ) -> None:
        path = Path(template_path)
        if not path.is_absolute() and not path.exists():
            path = PROJECT_ROOT / path
        self.template_path = path.resolve()
        self.template_dir = self.template_path.parent
        self.http_port = http_port
        self.moto_port = moto_port
        self.region = region
        self.standin_fixture = standin_fixture
        self.calcom_base_url_arg = calcom_base_url
        self.seed = seed
        self.extra_env = dict(env or {})
        self.parameter_overrides = dict(parameter_overrides or {})
        self.standin_options = dict(standin_options or {})
        self.enforce_timeouts = enforce_timeouts
        self.stack_name = stack_name
        self.poll_queues = poll_queues  # deliver SQS event sources in the background (make serve)
        self._sqs_lock = threading.Lock()  # one delivery at a time: drain_queue and the poller

        self.standin: Any = None  # the running Cal.com stand-in, if any
        self._standin_instance: Any = None  # kept across stop()/start()
        self._moto: Any = None
        self._front: HttpFront | None = None
        self._saved_env: dict[str, str] | None = None
        self._saved_path: list[str] | None = None
        self._env_changes: dict[str, str | None] = {}  # variable -> value before start (None: unset)
        self._code_dirs: list[Path] = []
        self._saved_modules: dict[str, Any] = {}
        self._running = False
        self._init_run_state()

    def _init_run_state(self) -> None:
        """What one start() builds (a stopped stack can be started again)."""
        self.http_url: str | None = None
        self.moto_url: str | None = None
        self.calcom_url: str | None = None
        self.calcom_webhook_url: str | None = None  # where the stand-in sends its webhooks
        self.functions: dict[str, LocalFunction] = {}  # logical id -> function (handler loaded)
        self.code_uris: dict[str, str] = {}  # logical id -> CodeUri as written in the template
        self.resources: dict[str, Any] = {}  # logical id -> physical id (what Ref gives)
        self.routes: list[Route] = []
        self._jwt_authorizers: dict[tuple[str, str], JwtAuthorizer] = {}
        self.parameters: dict[str, Any] = {}
        self.secrets: dict[str, str] = {}  # secret name -> value
        self.startup_seconds: float | None = None
        self.template: dict[str, Any] = {}
        self.resolver: Resolver | None = None
        self._by_name: dict[str, LocalFunction] = {}
        self._schedules: dict[str, dict[str, Any]] = {}
        self._tables: dict[str, str] = {}  # logical id -> table name
        self._queues: dict[str, str] = {}  # logical id -> queue url
        self.sqs_event_sources: list[SqsEventSource] = []
        self._sqs_poller: SqsPoller | None = None
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    def bound_ports(self) -> dict[str, int]:
        """The ports in use (http, moto, standin) of a running stack."""
        ports = {}
        for key, url in (("http", self.http_url), ("moto", self.moto_url)):
            if url:
                ports[key] = int(url.rsplit(":", 1)[1])
        if self.standin is not None and self.calcom_url:
            ports["standin"] = int(self.calcom_url.rsplit(":", 1)[1].split("/")[0])
        return ports

    # ================================================================== lifecycle
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        global _active
        with _active_lock:
            if _active is not None:
                raise LocalStackError("a LocalStack is already running in this process; stop() it first")
            _active = self
        started = time.monotonic()
        self._init_run_state()
        self._saved_env = dict(os.environ)
        self._saved_path = list(sys.path)
        self._running = True
        try:
            self._quiet_loggers()
            self.template = load_template(self.template_path)
            self._start_moto()
            self._set_process_env()
            self._start_standin()
            self._resolve_parameters()
            self._build_resolver()
            # Before the handlers are imported: their botocore sessions carry the IAM judge's hook.
            iam.install()
            iam.RECORDER.judge_with(iam.IamJudge(self.resolver))
            self._create_resources()
            self._start_front()
            self.connect_standin_webhooks()
            if self.seed is not None:
                self.seed(self)
            assert self._front is not None
            self._front.ready.set()
            if self.poll_queues:
                self.start_queue_polling()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        LOG.info("calbridge local stack started in %.2f s", self.startup_seconds)
        return self

    def stop(self) -> None:
        global _active
        if not self._running:
            return
        self._running = False
        iam.RECORDER.judge_with(None)
        self.stop_queue_polling()
        if self._front is not None:
            self._front.ready.set()
            self._front.stop()
            self._front = None
        if self.standin is not None:
            try:
                self.standin.stop()
            except Exception:  # pragma: no cover - best effort on shutdown
                LOG.warning("stopping the Cal.com stand-in failed", exc_info=True)
            self.standin = None
        moto_ext.set_lambda_dispatcher(None)
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._reset_moto_state()
        self._clients.clear()
        self._session = None
        # Undo exactly what start() changed in os.environ (other changes meanwhile stay).
        for key, previous in reversed(list(self._env_changes.items())):
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        self._env_changes = {}
        self._saved_env = None
        if self._saved_path is not None:
            sys.path[:] = self._saved_path
            self._saved_path = None
        if self._code_dirs:
            restore_modules(self._code_dirs, self._saved_modules)
            self._code_dirs, self._saved_modules = [], {}
        _drop_boto3_default_session()
        with _active_lock:
            if _active is self:
                _active = None

    # ================================================================== public helpers
    def boto3_client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client bound to the local moto endpoint (independent of os.environ)."""
        if not kwargs and service in self._clients:
            return self._clients[service]
        import boto3
        from botocore.config import Config

        assert self.moto_url, "start() first"
        if self._session is None:
            self._session = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region
            )
        session = self._session
        options: dict[str, Any] = {
            "endpoint_url": self.moto_url,
            "config": Config(inject_host_prefix=False, retries={"max_attempts": 1}),
        }
        options.update(kwargs)
        client = session.client(service, **options)
        if not kwargs:
            self._clients[service] = client
        return client

    def arn(self, logical_id: str) -> str:
        assert self.resolver is not None, "start() first"
        return self.resolver.attribute(logical_id, "Arn")

    def invoke(self, function: str, event: Any = None) -> InvokeResult:
        """Invoke a function in-process (logical id or physical name), like `sam local invoke`."""
        fn = self.functions.get(function) or self._by_name.get(function)
        if fn is None:
            raise KeyError(f"no function {function!r}; known: {', '.join(sorted(self.functions))}")
        return fn.invoke({} if event is None else event, enforce_timeout=self.enforce_timeouts)

    def last_express_history(self, state_machine: str) -> list[dict[str, Any]]:
        """The event history of the newest Express execution of a state machine (logical id).

        AWS keeps Express histories only in CloudWatch Logs; the local stack keeps the last
        executions in memory (local/moto_ext.py) so the demo and debugging can show transitions.
        """
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[ACCOUNT_ID][self.region]
        prefix = self.resources[state_machine].replace(":stateMachine:", ":express:") + ":"
        kept = backend.__dict__.get("local_sync_executions", {})
        newest = [execution for arn, execution in kept.items() if arn.startswith(prefix)]
        return list(newest[-1].to_history_output()["events"]) if newest else []

    def fire_schedule(self, logical_id: str) -> Any:
        """Deliver what a schedule/rule would deliver to its target, now; returns the target's result.

        `logical_id`: an AWS::Scheduler::Schedule or AWS::Events::Rule, or a SAM function event
        (`<Function><EventName>` as SAM names the generated resource, or just `<EventName>`).
        """
        entry = self._schedules.get(logical_id)
        if entry is None:
            matches = [v for k, v in self._schedules.items() if v.get("event_name") == logical_id]
            if len(matches) != 1:
                raise KeyError(f"no schedule {logical_id!r}; known: {', '.join(sorted(self._schedules))}")
            entry = matches[0]
        payload = self._schedule_payload(entry)
        target = entry["target_arn"]
        service = target.split(":")[2] if target.startswith("arn:") else ""
        if service == "lambda":
            name = target.split(":")[6]
            result = self.invoke(name, payload)
            if result.function_error:
                raise FunctionError(name, result)
            return result.json()
        if service == "states":
            sfn = self.boto3_client("stepfunctions")
            return sfn.start_execution(stateMachineArn=target, input=json.dumps(payload))["executionArn"]
        if service == "sqs":
            queue_name = target.rsplit(":", 1)[-1]
            url = self.boto3_client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]
            return self.boto3_client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(payload))
        raise NotImplementedError(f"schedule target {target} is not supported locally")

    def drain_queue(
        self, queue: str, *, batch_size: int | None = None, max_batches: int = 100
    ) -> list[SqsDelivery]:
        """Deliver a queue's visible messages to its SQS event sources until none is visible.

        `queue`: the queue's logical id, or the logical id of a function with an SQS event.
        `batch_size` overrides the event source's BatchSize. Each delivery (one invocation) is
        returned in order; see local/sqs_source.py for what is deleted and what stays.
        """
        sources = [s for s in self.sqs_event_sources if s.enabled and queue in (s.queue, s.function)]
        if not sources:
            known = sorted({s.queue for s in self.sqs_event_sources})
            raise KeyError(f"no SQS event source for {queue!r}; queues with one: {', '.join(known)}")
        deliveries: list[SqsDelivery] = []
        with self._sqs_lock:
            for source in sources:
                for _ in range(max_batches):
                    delivery = self._deliver(source, batch_size)
                    if delivery is None:
                        break
                    deliveries.append(delivery)
        return deliveries

    def start_queue_polling(self, interval_s: float = 0.5) -> None:
        """Deliver the SQS event sources in the background, like Lambda's pollers (`make serve`)."""
        if self._sqs_poller is None and self.sqs_event_sources:
            self._sqs_poller = SqsPoller(self._drain_all, interval_s)
            self._sqs_poller.start()

    def stop_queue_polling(self) -> None:
        if self._sqs_poller is not None:
            self._sqs_poller.stop()
            self._sqs_poller = None

    def _deliver(self, source: SqsEventSource, batch_size: int | None) -> SqsDelivery | None:
        def invoke(event: dict[str, Any]) -> InvokeResult:
            return self.functions[source.function].invoke(event, enforce_timeout=self.enforce_timeouts)

        return deliver_batch(self.boto3_client("sqs"), source, invoke, self.region, batch_size)

    def _drain_all(self) -> int:
        """The poller's round: every enabled event source until its queue has nothing visible."""
        delivered = 0
        with self._sqs_lock:
            for source in self.sqs_event_sources:
                while source.enabled and self._running and self._deliver(source, None) is not None:
                    delivered += 1
        return delivered

    def reset(self) -> None:
        """Test helper: delete every item of every table (tables stay), purge queues, reset the stand-in."""
        ddb = self.boto3_client("dynamodb")
        for table in self._tables.values():
            keys = [k["AttributeName"] for k in ddb.describe_table(TableName=table)["Table"]["KeySchema"]]
            names = {f"#k{i}": k for i, k in enumerate(keys)}
            kwargs: dict[str, Any] = {
                "TableName": table,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
            while True:
                page = ddb.scan(**kwargs)
                items = page.get("Items", [])
                for start in range(0, len(items), 25):
                    requests = [{"DeleteRequest": {"Key": item}} for item in items[start : start + 25]]
                    pending: dict[str, Any] = {table: requests}
                    while pending:
                        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self._empty_queues()
        self.clear_sent_messages()
        if self.standin is not None and hasattr(self.standin, "reset"):
            self.standin.reset()

    # ---------------------------------------------- captured confirmations (issue 13, item 5)
    # moto's SES and SNS keep what the functions sent (ses/sns backends, in this process): the
    # tests and the demo read the confirmations there (docs/adr/0029-confirmations.md).

    def sent_mail(self) -> list[EmailMessage]:
        """Every e-mail SES took since the last reset, oldest first, parsed (`get_body`,
        `iter_attachments`); moto also records its envelope: `X-Envelope-From`."""
        from moto.ses.models import ses_backends

        parsed = []
        for sent in list(ses_backends[ACCOUNT_ID][self.region].sent_messages):
            raw = getattr(sent, "raw_data", None)
            if raw is None:
                continue
            message = email.message_from_string(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            message["X-Envelope-From"] = str(sent.source)
            parsed.append(message)
        return parsed

    def sent_sms(self) -> list[tuple[str, str]]:
        """Every SMS SNS took since the last reset, oldest first: (phone number, text)."""
        from moto.sns.models import sns_backends

        return list(sns_backends[ACCOUNT_ID][self.region].sms_messages.values())

    def clear_sent_messages(self) -> None:
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        ses_backends[ACCOUNT_ID][self.region].sent_messages.clear()
        sns_backends[ACCOUNT_ID][self.region].sms_messages.clear()

    def _empty_queues(self) -> None:
        """Every message of the stack's queues gone, in flight or not. PurgeQueue would refuse a
        second purge of a queue within 60 s (as SQS does), so the test reset empties moto's queues."""
        from moto.sqs.models import sqs_backends

        backend = sqs_backends[ACCOUNT_ID][self.region]
        for url in self._queues.values():
            queue = backend.get_queue(url.rsplit("/", 1)[-1])
            with self._sqs_lock:
                queue._messages = []
                queue._pending_messages = set()

    # ================================================================== start-up steps
    @staticmethod
    def _quiet_loggers() -> None:
        for name in ("werkzeug", "botocore", "boto3", "urllib3", "pynamodb"):
            logging.getLogger(name).setLevel(logging.WARNING)
        # moto's ASL engine logs every state failure (an expected outcome: Catch, Fail) as ERROR
        # with a dump of the state; the execution result carries the error and cause anyway.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        moto_ext.install()
        moto_ext.enable_stepfunctions_parser()
        self._reset_moto_state()
        if self.moto_port:
            # ThreadedMotoServer waits forever when its thread cannot bind: check first.
            _check_port_free(self.moto_port)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        server.start()
        self._moto = server
        host, port = server.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        moto_ext.set_lambda_dispatcher(self._dispatch_lambda)

    @staticmethod
    def _reset_moto_state() -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def _set_process_env(self) -> None:
        assert self.moto_url
        for key in list(os.environ):
            # Service-specific endpoints and profiles would take precedence over ours.
            if key.startswith("AWS_ENDPOINT_URL_") or key in (
                "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE",
                "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN",
                "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
            ):
                self._setenv(key, None)
        self._update_env(
            {
                "AWS_ENDPOINT_URL": self.moto_url,
                "MOTO_PORT": self.moto_url.rsplit(":", 1)[1],
                "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
                **_FAKE_CREDENTIALS,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        if "POWERTOOLS_METRICS_NAMESPACE" not in os.environ:
            self._setenv("POWERTOOLS_METRICS_NAMESPACE", "calbridge-local")
        self._update_env(self.extra_env)
        _drop_boto3_default_session()

    def _setenv(self, key: str, value: str | None) -> None:
        """Set (or with None remove) a process environment variable, remembering the original."""
        if key not in self._env_changes:
            self._env_changes[key] = os.environ.get(key)
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    def _update_env(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            self._setenv(key, value)

    def _env_input(self, name: str) -> str | None:
        """A configuration input: the `env` argument first, then the environment before start."""
        if name in self.extra_env:
            return self.extra_env[name]
        assert self._saved_env is not None
        return self._saved_env.get(name)

    def _start_standin(self) -> None:
        external = self.calcom_base_url_arg or self._env_input("CALCOM_BASE_URL")
        if external:
            self.calcom_url = external.rstrip("/")
            if self.standin_fixture is not None:
                LOG.info("Cal.com base URL given (%s): the stand-in is not started", self.calcom_url)
            return
        if self.standin_fixture is None:
            return
        try:
            from local.calcom_standin import CalcomStandIn
        except ImportError as exc:
            raise LocalStackError(f"the Cal.com stand-in is not available: {exc}") from exc
        fixture = self.standin_fixture
        if isinstance(fixture, Path):
            fixture = str(fixture)
        options = {"host": "127.0.0.1", "port": 0, "rate_limit": True, **self.standin_options}
        if self._standin_instance is not None:
            # A restart: the same stand-in, back at its fixture state (and on the asked-for port).
            standin = self._standin_instance
            if hasattr(standin, "reset"):
                standin.reset()
            if hasattr(standin, "port"):
                standin.port = options["port"]
        else:
            standin = CalcomStandIn(fixture, **options)
            self._standin_instance = standin
        self.standin = standin
        self.calcom_url = str(standin.start()).rstrip("/")

    def _fixture_api_key(self) -> str | None:
        return self._fixture_value("calcom", "api_key")

    def _fixture_value(self, section: str, key: str) -> str | None:
        """A value of the stand-in fixture (which seeds the demo company too), if it has one."""
        fixture = self.standin_fixture
        try:
            if isinstance(fixture, str | Path):
                fixture = json.loads(Path(fixture).read_text(encoding="utf-8"))
            if isinstance(fixture, dict):
                value = (fixture.get(section) or {}).get(key)
                return str(value) if value else None
        except (OSError, ValueError):
            return None
        return None

    def _resolve_parameters(self) -> None:
        params: dict[str, Any] = {}
        for name, spec in (self.template.get("Parameters") or {}).items():
            ptype = str(spec.get("Type", "String"))
            if name in self.parameter_overrides:
                params[name] = self.parameter_overrides[name]
                continue
            if ptype.startswith("AWS::SSM::Parameter::Value<"):
                ssm_name = spec.get("Default")
                value = self._env_input(camel_to_upper_snake(name))
                if name == "CalcomBaseUrl" and self.calcom_base_url_arg:
                    value = self.calcom_base_url_arg
                if value is None and ssm_name in LOCAL_SSM_VALUES:
                    value = LOCAL_SSM_VALUES[ssm_name]
                if value is None and name == "CalcomBaseUrl":
                    value = self.calcom_url or DEFAULT_CALCOM_BASE_URL
                if value is None:
                    raise LocalStackError(
                        f"parameter {name} ({ptype}, SSM {ssm_name}) has no local value: set env "
                        f"{camel_to_upper_snake(name)} or pass parameter_overrides={{'{name}': ...}}"
                    )
                params[name] = value
                if name == "CalcomBaseUrl":
                    self.calcom_url = str(value).rstrip("/")
                if ssm_name:
                    self.boto3_client("ssm").put_parameter(
                        Name=str(ssm_name), Value=str(value), Type="String", Overwrite=True
                    )
                continue
            if "Default" not in spec:
                raise LocalStackError(f"parameter {name} has no Default: pass parameter_overrides")
            params[name] = spec["Default"]
        self.parameters = params

    def _build_resolver(self) -> None:
        self.resolver = Resolver(
            self.template,
            region=self.region,
            parameter_values=self.parameters,
            stack_name=self.stack_name,
            queue_url_base=self.moto_url,
        )

    # ------------------------------------------------------------------ resources
    def _create_resources(self) -> None:
        r = self.resolver
        assert r is not None
        resources = {lid: res for lid, res in r.resources.items() if r.resource_enabled(lid)}
        by_type: dict[str, list[str]] = {}
        for lid, res in resources.items():
            by_type.setdefault(res.get("Type", ""), []).append(lid)

        iam = self.boto3_client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": []})
        for role in (LAMBDA_ROLE, STATES_ROLE):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)

        for lid in by_type.get("AWS::DynamoDB::Table", []):
            self._create_table(lid)
        self._create_queues(by_type.get("AWS::SQS::Queue", []))
        self._create_parameter_secrets()
        for lid in by_type.get("AWS::SecretsManager::Secret", []):
            self._create_secret_resource(lid)
        for lid in by_type.get("AWS::SSM::Parameter", []):
            props = r.resolve(resources[lid].get("Properties") or {})
            self.boto3_client("ssm").put_parameter(
                Name=r.physical_name(lid), Value=str(props.get("Value", "")), Type="String", Overwrite=True
            )
            self.resources[lid] = r.physical_name(lid)
        for lid in by_type.get("AWS::SES::EmailIdentity", []):  # SES sends only from a verified identity
            identity = str(r.resolve(resources[lid].get("Properties") or {})["EmailIdentity"])
            self.boto3_client("sesv2").create_email_identity(EmailIdentity=identity)
            self.resources[lid] = identity
        self._create_cognito(by_type)
        self._create_functions(by_type.get("AWS::Serverless::Function", []))
        for lid in by_type.get("AWS::Serverless::StateMachine", []) + by_type.get(
            "AWS::StepFunctions::StateMachine", []
        ):
            self._create_state_machine(lid)
        for lid in by_type.get("AWS::Scheduler::ScheduleGroup", []):
            self.boto3_client("scheduler").create_schedule_group(Name=r.physical_name(lid))
            self.resources[lid] = r.physical_name(lid)
        for lid in by_type.get("AWS::Scheduler::Schedule", []):
            self._create_schedule(lid, r.resolve(resources[lid].get("Properties") or {}))
        for lid in by_type.get("AWS::Events::Rule", []):
            self._create_rule(lid, r.resolve(resources[lid].get("Properties") or {}))

        handled = {
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::SecretsManager::Secret",
            "AWS::SSM::Parameter",
            "AWS::SES::EmailIdentity",
            "AWS::Cognito::UserPool",
            "AWS::Cognito::UserPoolClient",
            "AWS::Cognito::UserPoolGroup",
            "AWS::Serverless::Function",
            "AWS::Serverless::StateMachine",
            "AWS::StepFunctions::StateMachine",
            "AWS::Scheduler::ScheduleGroup",
            "AWS::Scheduler::Schedule",
            "AWS::Events::Rule",
        }
        for rtype, lids in sorted(by_type.items()):
            if rtype in handled:
                continue
            for lid in lids:
                with contextlib.suppress(TemplateError):
                    self.resources.setdefault(lid, r.ref(lid))
                if rtype not in _SKIPPED_QUIETLY:
                    LOG.info("skipping %s %s: not created locally", rtype, lid)

    def _create_table(self, lid: str) -> None:
        r = self.resolver
        assert r is not None
        props = r.resolve(r.resources[lid].get("Properties") or {})
        name = r.physical_name(lid)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        index_keys = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k in index_keys} for gsi in props["GlobalSecondaryIndexes"]
            ]
            if kwargs["BillingMode"] == "PROVISIONED":
                for gsi in kwargs["GlobalSecondaryIndexes"]:
                    gsi.setdefault("ProvisionedThroughput", kwargs["ProvisionedThroughput"])
        if props.get("LocalSecondaryIndexes"):
            kwargs["LocalSecondaryIndexes"] = [
                {k: v for k, v in lsi.items() if k in index_keys[:3]}
                for lsi in props["LocalSecondaryIndexes"]
            ]
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = props.get("SSESpecification")
        if sse:
            spec = {"Enabled": bool(sse.get("SSEEnabled"))}
            if sse.get("SSEType"):
                spec["SSEType"] = sse["SSEType"]
            if sse.get("KMSMasterKeyId"):
                spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
            kwargs["SSESpecification"] = spec
        if props.get("TableClass"):
            kwargs["TableClass"] = props["TableClass"]
        if props.get("Tags"):
            kwargs["Tags"] = props["Tags"]
        ddb = self.boto3_client("dynamodb")
        table = ddb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        if table.get("LatestStreamArn"):
            r.set_attribute(lid, "StreamArn", table["LatestStreamArn"])
        self._tables[lid] = name
        self.resources[lid] = name

    def _create_queues(self, lids: list[str]) -> None:
        r = self.resolver
        assert r is not None
        sqs = self.boto3_client("sqs")
        attribute_props = (
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
            "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds",
            "SqsManagedSseEnabled",
        )
        pending = {lid: r.resolve(r.resources[lid].get("Properties") or {}) for lid in lids}
        created_arns: set[str] = set()
        while pending:
            progressed = False
            for lid, props in list(pending.items()):
                dlq = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
                own_arns = {r.arn(x) for x in lids}
                if dlq and dlq in own_arns and dlq not in created_arns:
                    continue  # its dead-letter queue first
                attributes: dict[str, str] = {}
                for key in attribute_props:
                    if key in props:
                        value = props[key]
                        attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
                for key in ("RedrivePolicy", "RedriveAllowPolicy"):
                    if key in props:
                        value = props[key]
                        attributes[key] = value if isinstance(value, str) else json.dumps(value)
                name = r.physical_name(lid)
                url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
                r.set_ref(lid, url)
                self._queues[lid] = url
                self.resources[lid] = url
                created_arns.add(r.arn(lid))
                del pending[lid]
                progressed = True
            if not progressed:
                raise LocalStackError(f"queues with circular dead-letter references: {sorted(pending)}")

    @staticmethod
    def _secret_env_name(parameter: str) -> str:
        stem = parameter[: -len("SecretName")]
        env = camel_to_upper_snake(stem)
        if re.search(r"_(KEY|SECRET|TOKEN|PASSWORD)$", env):
            return env
        return f"{env}_SECRET"

    def _create_parameter_secrets(self) -> None:
        secrets = self.boto3_client("secretsmanager")
        for parameter, secret_name in self.parameters.items():
            if not parameter.endswith("SecretName") or parameter == "SecretName":
                continue
            env_name = self._secret_env_name(parameter)
            value = self._env_input(env_name)
            if value is None:
                value = LOCAL_SECRET_DEFAULTS.get(env_name)
                if env_name == "CALCOM_API_KEY" and self.standin is not None:
                    value = getattr(self.standin, "api_key", None) or self._fixture_api_key() or value
            if value is None:
                value = f"local-{camel_to_upper_snake(parameter[: -len('SecretName')]).lower()}"
                LOG.info("secret %s: env %s not set, using %r", secret_name, env_name, value)
            secrets.create_secret(Name=str(secret_name), SecretString=value)
            self.secrets[str(secret_name)] = value

    def _create_secret_resource(self, lid: str) -> None:
        r = self.resolver
        assert r is not None
        props = r.resolve(r.resources[lid].get("Properties") or {})
        name = r.physical_name(lid)
        value = props.get("SecretString")
        if value is None:
            generate = props.get("GenerateSecretString") or {}
            generated = uuid.uuid4().hex
            template = generate.get("SecretStringTemplate")
            key = generate.get("GenerateStringKey")
            if template and key:
                data = json.loads(template)
                data[key] = generated
                value = json.dumps(data)
            else:
                value = generated
        arn = self.boto3_client("secretsmanager").create_secret(Name=name, SecretString=str(value))["ARN"]
        r.set_ref(lid, arn)
        r.set_attribute(lid, "Arn", arn)
        self.secrets[name] = str(value)
        self.resources[lid] = arn

    # ------------------------------------------------------------------ functions
    def _function_properties(self, lid: str) -> dict[str, Any]:
        """Globals.Function merged with the function's own properties (unresolved)."""
        r = self.resolver
        assert r is not None
        globals_fn = dict(((self.template.get("Globals") or {}).get("Function")) or {})
        own = dict(r.resources[lid].get("Properties") or {})
        merged = {**globals_fn, **own}
        env_vars = {
            **(((globals_fn.get("Environment") or {}).get("Variables")) or {}),
            **(((own.get("Environment") or {}).get("Variables")) or {}),
        }
        merged["Environment"] = {"Variables": env_vars}
        merged["Layers"] = list(globals_fn.get("Layers") or []) + list(own.get("Layers") or [])
        return merged

    def _layer_dirs(self, layers: list[Any]) -> list[Path]:
        r = self.resolver
        assert r is not None
        dirs = []
        for layer in layers:
            if isinstance(layer, dict) and "Ref" in layer and layer["Ref"] in r.resources:
                props = r.resources[layer["Ref"]].get("Properties") or {}
                content = props.get("ContentUri") or (props.get("Content") or {})
                if isinstance(content, str):
                    path = (self.template_dir / content).resolve()
                    dirs.append(path / "python" if (path / "python").is_dir() else path)
                    continue
            LOG.info("layer %s: not a local layer of this template, skipped", layer)
        return dirs

    def _create_functions(self, lids: list[str]) -> None:
        r = self.resolver
        assert r is not None
        specs: dict[str, dict[str, Any]] = {}
        env_values: dict[str, dict[str, list[str]]] = {}
        for lid in lids:
            props = self._function_properties(lid)
            code_uri = props.get("CodeUri")
            if not isinstance(code_uri, str):
                raise LocalStackError(f"{lid}: CodeUri must be a local folder for the local stack")
            variables = {k: _env_string(v) for k, v in r.resolve(props["Environment"]["Variables"]).items()}
            for key, value in variables.items():
                if value.startswith(_COGNITO_ENDPOINT_PREFIX):  # the console signs in at moto's Cognito
                    variables[key] = f"{self.moto_url}/"
            for key, value in LOCAL_RATE_LIMIT.items():
                if key in variables:
                    variables[key] = self._env_input(key) or value
            for key, value in variables.items():
                env_values.setdefault(key, {}).setdefault(value, []).append(lid)
            specs[lid] = {
                "props": props,
                "code_uri": (self.template_dir / code_uri).resolve(),
                "code_uri_text": code_uri,
                "env": variables,
            }

        conflicts = {k: v for k, v in env_values.items() if len(v) > 1}
        if conflicts:
            lines = []
            for key, values in sorted(conflicts.items()):
                parts = "; ".join(f"{', '.join(fns)}: {val!r}" for val, fns in values.items())
                lines.append(f"  {key}: {parts}")
            raise LocalStackError(
                "functions share one process locally, but these environment variables differ between "
                "functions:\n" + "\n".join(lines)
            )
        self._update_env({key: next(iter(values)) for key, values in env_values.items()})

        layer_dirs: list[Path] = []
        for spec in specs.values():
            for d in self._layer_dirs(spec["props"]["Layers"]):
                if d not in layer_dirs:
                    layer_dirs.append(d)
        for d in reversed(layer_dirs):
            if str(d) not in sys.path:
                sys.path.insert(0, str(d))
        # Fresh imports of the layer and function code, under the environment just written.
        self._code_dirs = [*layer_dirs, *(spec["code_uri"] for spec in specs.values())]
        self._saved_modules = take_modules_under(self._code_dirs)

        lambda_client = self.boto3_client("lambda")
        role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{LAMBDA_ROLE}"
        zipped = _tiny_zip()
        for lid, spec in specs.items():
            props = spec["props"]
            fn = LocalFunction(
                logical_id=lid,
                name=r.physical_name(lid),
                arn=r.arn(lid),
                code_uri=spec["code_uri"],
                handler_spec=str(props.get("Handler")),
                timeout_s=float(r.resolve(props.get("Timeout", 3))),
                memory_mb=int(r.resolve(props.get("MemorySize", 128))),
                environment=spec["env"],
                events=props.get("Events") or {},
            )
            lambda_client.create_function(
                FunctionName=fn.name,
                Runtime=str(r.resolve(props.get("Runtime", "python3.12"))),
                Role=role_arn,
                Handler=fn.handler_spec,
                Code={"ZipFile": zipped},
                Timeout=int(fn.timeout_s),
                MemorySize=fn.memory_mb,
                Environment={"Variables": spec["env"]},
            )
            self.functions[lid] = fn
            self.code_uris[lid] = spec["code_uri_text"]
            self._by_name[fn.name] = fn
            self.resources[lid] = fn.name

        code_dirs = [fn.code_uri for fn in self.functions.values()]
        for fn in self.functions.values():
            try:
                fn.load(code_dirs, layer_dirs)
            except Exception as exc:
                raise LocalStackError(
                    f"{fn.logical_id}: importing handler {fn.handler_spec} failed: {exc!r}"
                ) from exc

        for lid, fn in self.functions.items():
            for event_name, event in fn.events.items():
                self._function_event(lid, fn, event_name, event)

    def _function_event(self, lid: str, fn: LocalFunction, event_name: str, event: dict[str, Any]) -> None:
        r = self.resolver
        assert r is not None
        etype = event.get("Type")
        props = event.get("Properties") or {}
        if etype == "HttpApi":
            api_ref = props.get("ApiId")
            api_lid = api_ref.get("Ref") if isinstance(api_ref, dict) else None
            api_props = (r.resources.get(api_lid or "", {}).get("Properties") or {}) if api_lid else {}
            auth = (props.get("Auth") or {}).get("Authorizer")
            if auth is None:
                auth = (api_props.get("Auth") or {}).get("DefaultAuthorizer")
            if auth in ("NONE", None):
                auth = None
            jwt_authorizer = None
            if auth not in (None, "AWS_IAM"):
                jwt_authorizer = self._jwt_authorizer(api_lid or "", api_props, str(auth))
                auth = "JWT"
            api_id = r.ref(api_lid) if api_lid else local_api_id("ServerlessHttpApi")
            self.routes.append(
                Route(
                    method=str(props.get("Method", "ANY")),
                    path=str(props.get("Path", "$default")),
                    function=lid,
                    auth=auth,
                    api_id=str(api_id),
                    jwt=jwt_authorizer,
                )
            )
        elif etype in ("Schedule", "ScheduleV2"):
            resolved = r.resolve(props)
            gen_lid = f"{lid}{event_name}"
            if etype == "ScheduleV2":
                schedule_props = {
                    "Name": resolved.get("Name", gen_lid),
                    "GroupName": resolved.get("GroupName", "default"),
                    "ScheduleExpression": resolved.get("ScheduleExpression"),
                    "ScheduleExpressionTimezone": resolved.get("ScheduleExpressionTimezone"),
                    "FlexibleTimeWindow": resolved.get("FlexibleTimeWindow") or {"Mode": "OFF"},
                    "State": resolved.get("State", "ENABLED"),
                    "Target": {
                        "Arn": fn.arn,
                        "RoleArn": resolved.get("RoleArn", f"arn:aws:iam::{ACCOUNT_ID}:role/{LAMBDA_ROLE}"),
                        **({"Input": resolved["Input"]} if "Input" in resolved else {}),
                    },
                }
                self._create_schedule(gen_lid, schedule_props, event_name=event_name)
            else:
                target = {"Id": f"{gen_lid}Target", "Arn": fn.arn}
                if "Input" in resolved:
                    target["Input"] = resolved["Input"]
                enabled = resolved.get("Enabled", True) is not False
                rule_props = {
                    "Name": resolved.get("Name", gen_lid),
                    "ScheduleExpression": resolved.get("Schedule"),
                    "State": resolved.get("State", "ENABLED" if enabled else "DISABLED"),
                    "Targets": [target],
                }
                self._create_rule(gen_lid, rule_props, event_name=event_name)
        elif etype == "SQS":
            resolved = r.resolve(props)
            queue_arn = str(resolved.get("Queue"))
            queue = next((q for q in self._queues if r.arn(q) == queue_arn), None)
            if queue is None:
                LOG.info(
                    "%s %s: queue %s is not one of this template's, not wired", lid, event_name, queue_arn
                )
                return
            self.sqs_event_sources.append(
                SqsEventSource(
                    function=lid,
                    queue=queue,
                    queue_url=self._queues[queue],
                    queue_arn=queue_arn,
                    batch_size=int(resolved.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (resolved.get("FunctionResponseTypes") or []),
                    enabled=resolved.get("Enabled", True) is not False,
                )
            )
        elif etype:
            LOG.info("%s: event %s of type %s is not wired locally", lid, event_name, etype)

    def _jwt_authorizer(self, api_lid: str, api_props: dict[str, Any], name: str) -> JwtAuthorizer:
        """One of the API's `Auth.Authorizers` with a JwtConfiguration, shared by its routes; its
        keys are the JWKS moto serves for the issuer's user pool."""
        key = (api_lid, name)
        if key not in self._jwt_authorizers:
            config = ((api_props.get("Auth") or {}).get("Authorizers") or {}).get(name) or {}
            jwt_config = self.resolver.resolve(config.get("JwtConfiguration") or {}) if self.resolver else {}
            if not jwt_config.get("issuer"):
                raise LocalStackError(f"{api_lid}: authorizer {name} has no JwtConfiguration.issuer")
            self._jwt_authorizers[key] = JwtAuthorizer(
                name=name,
                issuer=str(jwt_config["issuer"]),
                audiences=tuple(str(a) for a in jwt_config.get("audience") or ()),
                load_jwks=self._cognito_jwks,
            )
        return self._jwt_authorizers[key]

    def _cognito_jwks(self, issuer: str) -> dict[str, Any]:
        pool_id = issuer.rstrip("/").rsplit("/", 1)[-1]
        answer = httpx.get(f"{self.moto_url}/{pool_id}/.well-known/jwks.json", timeout=10)
        answer.raise_for_status()
        return answer.json()

    # ------------------------------------------------------------------ the console's users (Cognito)

    def _create_cognito(self, by_type: dict[str, list[str]]) -> None:
        """User pools, their app clients and groups, in moto, before the functions that name them."""
        r = self.resolver
        assert r is not None
        cognito = self.boto3_client("cognito-idp")
        for lid in by_type.get("AWS::Cognito::UserPool", []):
            props = r.resolve(r.resources[lid].get("Properties") or {})
            pool = cognito.create_user_pool(
                PoolName=str(props.get("UserPoolName") or lid),
                **{k: props[k] for k in _USER_POOL_PROPERTIES if k in props},
            )["UserPool"]
            r.set_ref(lid, pool["Id"])
            r.set_attribute(lid, "Arn", pool["Arn"])
            r.set_attribute(lid, "ProviderName", f"cognito-idp.{self.region}.amazonaws.com/{pool['Id']}")
            r.set_attribute(
                lid, "ProviderURL", f"https://cognito-idp.{self.region}.amazonaws.com/{pool['Id']}"
            )
            self.resources[lid] = pool["Id"]
        for lid in by_type.get("AWS::Cognito::UserPoolClient", []):
            props = r.resolve(r.resources[lid].get("Properties") or {})
            client = cognito.create_user_pool_client(
                UserPoolId=props["UserPoolId"],
                ClientName=str(props.get("ClientName") or lid),
                **{k: props[k] for k in _USER_POOL_CLIENT_PROPERTIES if k in props},
            )["UserPoolClient"]
            r.set_ref(lid, client["ClientId"])
            self.resources[lid] = client["ClientId"]
        for lid in by_type.get("AWS::Cognito::UserPoolGroup", []):
            props = r.resolve(r.resources[lid].get("Properties") or {})
            cognito.create_group(
                GroupName=props["GroupName"],
                UserPoolId=props["UserPoolId"],
                Description=props.get("Description", ""),
            )
            self.resources[lid] = props["GroupName"]

    # ------------------------------------------------------------------ state machines
    def _create_state_machine(self, lid: str) -> None:
        r = self.resolver
        assert r is not None
        raw = r.resources[lid]
        props = raw.get("Properties") or {}
        serverless = raw["Type"] == "AWS::Serverless::StateMachine"
        substitutions = r.resolve(props.get("DefinitionSubstitutions") or {})
        if serverless and props.get("DefinitionUri") is not None:
            uri = props["DefinitionUri"]
            if not isinstance(uri, str):
                raise LocalStackError(f"{lid}: DefinitionUri must be a local file for the local stack")
            path = (self.template_dir / uri).resolve()
            text = path.read_text(encoding="utf-8")
            if path.suffix in (".yaml", ".yml"):
                import yaml

                text = json.dumps(yaml.safe_load(text))
        elif props.get("Definition") is not None:
            text = json.dumps(r.resolve(props["Definition"]))
        elif props.get("DefinitionString") is not None:
            text = str(r.resolve(props["DefinitionString"]))
        else:
            raise LocalStackError(f"{lid}: no Definition/DefinitionUri/DefinitionString")
        text = substitute_definition(text, substitutions)
        leftover = set(re.findall(r"\$\{([A-Za-z0-9_.:]+)\}", text))
        if leftover:
            LOG.warning("%s: definition placeholders without substitution: %s", lid, sorted(leftover))
        sm_type = r.resolve(props.get("Type" if serverless else "StateMachineType", "STANDARD"))
        name = r.physical_name(lid)
        arn = self.boto3_client("stepfunctions").create_state_machine(
            name=name,
            definition=text,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{STATES_ROLE}",
            type=str(sm_type),
        )["stateMachineArn"]
        self.resources[lid] = arn
        if serverless:
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") in ("Schedule", "ScheduleV2"):
                    ev_props = r.resolve(event.get("Properties") or {})
                    gen_lid = f"{lid}{event_name}"
                    entry_input = ev_props.get("Input")
                    self._schedules[gen_lid] = {
                        "kind": "scheduler" if event["Type"] == "ScheduleV2" else "rule",
                        "name": ev_props.get("Name", gen_lid),
                        "arn": f"local:{gen_lid}",
                        "target_arn": arn,
                        "input": entry_input,
                        "event_name": event_name,
                    }

    # ------------------------------------------------------------------ schedules and rules
    def _create_schedule(self, lid: str, props: dict[str, Any], event_name: str | None = None) -> None:
        name = str(props.get("Name") or lid)
        group = str(props.get("GroupName") or "default")
        target = dict(props.get("Target") or {})
        kwargs: dict[str, Any] = {
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": props["ScheduleExpression"],
            "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
            "Target": {
                "Arn": target["Arn"],
                "RoleArn": target.get("RoleArn") or f"arn:aws:iam::{ACCOUNT_ID}:role/{LAMBDA_ROLE}",
                **({"Input": target["Input"]} if "Input" in target else {}),
            },
            "State": props.get("State") or "ENABLED",
        }
        for key in ("ScheduleExpressionTimezone", "Description", "StartDate", "EndDate"):
            if props.get(key):
                kwargs[key] = props[key]
        arn = self.boto3_client("scheduler").create_schedule(**kwargs)["ScheduleArn"]
        self.resources[lid] = name
        self._schedules[lid] = {
            "kind": "scheduler",
            "name": name,
            "arn": arn,
            "target_arn": target["Arn"],
            "input": target.get("Input"),
            "event_name": event_name,
        }

    def _create_rule(self, lid: str, props: dict[str, Any], event_name: str | None = None) -> None:
        events = self.boto3_client("events")
        name = str(props.get("Name") or lid)
        kwargs: dict[str, Any] = {"Name": name, "State": props.get("State") or "ENABLED"}
        if props.get("ScheduleExpression"):
            kwargs["ScheduleExpression"] = props["ScheduleExpression"]
        if props.get("EventPattern"):
            pattern = props["EventPattern"]
            kwargs["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if props.get("EventBusName"):
            kwargs["EventBusName"] = props["EventBusName"]
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = []
        for target in props.get("Targets") or []:
            t = {k: v for k, v in target.items() if k in ("Id", "Arn", "Input", "InputPath", "RoleArn")}
            targets.append(t)
        if targets:
            extra = {"EventBusName": kwargs["EventBusName"]} if "EventBusName" in kwargs else {}
            events.put_targets(Rule=name, Targets=targets, **extra)
        self.resources[lid] = name
        if targets and props.get("ScheduleExpression"):
            self._schedules[lid] = {
                "kind": "rule",
                "name": name,
                "arn": arn,
                "target_arn": targets[0]["Arn"],
                "input": targets[0].get("Input"),
                "input_path": targets[0].get("InputPath"),
                "event_name": event_name,
            }

    def _schedule_payload(self, entry: dict[str, Any]) -> Any:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        raw = entry.get("input")
        if entry["kind"] == "scheduler":
            if raw is None:
                return {}
            for placeholder, value in (
                ("<aws.scheduler.schedule-arn>", entry["arn"]),
                ("<aws.scheduler.scheduled-time>", now),
                ("<aws.scheduler.execution-id>", str(uuid.uuid4())),
                ("<aws.scheduler.attempt-number>", "0"),
            ):
                raw = raw.replace(placeholder, value)
            return json.loads(raw) if isinstance(raw, str) else raw
        if raw is not None:
            return json.loads(raw) if isinstance(raw, str) else raw
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": now,
            "region": self.region,
            "resources": [entry["arn"]],
            "detail": {},
        }
        path = entry.get("input_path")
        if path and path.startswith("$.") and "." not in path[2:]:
            return event.get(path[2:])
        return event

    # ------------------------------------------------------------------ HTTP front
    def _start_front(self) -> None:
        def invoke(lid: str, event: dict[str, Any]) -> InvokeResult:
            return self.functions[lid].invoke(event, enforce_timeout=self.enforce_timeouts)

        self._front = HttpFront(self.routes, invoke, port=self.http_port)
        self.http_url = self._front.start()

    def connect_standin_webhooks(self) -> None:
        """Subscribe the HTTP front's Cal.com webhook route to the stand-in's signed webhooks, as a
        salon adds its team's webhook in Cal.com (README): for the company the stand-in's fixture
        seeds, at `/calcom/webhook/<company_id>`, signed with that company's own secret. Again
        after a test dropped it; a subscription there already is kept."""
        if self.standin is None or not self.http_url:
            return
        route = next(
            (
                r
                for r in self.routes
                if r.path.rstrip("/").endswith("/calcom/webhook/{company_id}") and r.method in ("POST", "ANY")
            ),
            None,
        )
        dispatcher = getattr(getattr(self.standin, "app", None), "webhooks", None)
        company_id = self._fixture_value("company", "company_id")
        if route is None or company_id is None or not hasattr(dispatcher, "subscribe"):
            return
        secret = self.company_webhook_secret(company_id)
        url = f"{self.http_url}{route.path.replace('{company_id}', company_id)}"
        # A restarted stack meets the same stand-in, whose static subscriptions survive its reset.
        if url not in {sub["url"] for sub in dispatcher.state()["subscriptions"]}:
            # A team webhook, as README tells the salon to add: its own team's bookings only.
            team_id = self._fixture_value("company", "calcom_team_id")
            dispatcher.subscribe(url, secret, None, static=True, team_id=team_id)
        self.calcom_webhook_url = url
        LOG.info("Cal.com stand-in webhooks -> %s", url)

    def company_webhook_secret(self, company_id: str, value: str | None = None) -> str:
        """A company's Cal.com webhook secret `<CalcomWebhookSecretName>/<company_id>` in the local
        Secrets Manager, created on first use with `value` (default: the CalcomWebhookSecretName
        secret's local value, env CALCOM_WEBHOOK_SECRET or `whsec_local_calbridge_dev`)."""
        prefix = str(self.parameters.get("CalcomWebhookSecretName", ""))
        name = f"{prefix}/{company_id}"
        if name not in self.secrets:
            secret = value if value is not None else self.secrets.get(prefix, "")
            self.boto3_client("secretsmanager").create_secret(Name=name, SecretString=secret)
            self.secrets[name] = secret
        return self.secrets[name]

    # ------------------------------------------------------------------ Lambda dispatch
    def _dispatch_lambda(
        self, function_name: str, payload: bytes, invocation_type: str
    ) -> tuple[bytes, str | None] | None:
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        fn = self._by_name.get(name)
        if fn is None:
            return None
        if invocation_type == "DryRun":
            return b"", None
        if invocation_type == "Event":
            fn.invoke_async(payload, enforce_timeout=self.enforce_timeouts)
            return b"", None
        result = fn.invoke(payload, enforce_timeout=self.enforce_timeouts)
        return result.payload, result.function_error


def active_stack() -> LocalStack | None:
    """The stack running in this process, if any."""
    return _active


@contextlib.contextmanager
def suspended_active_stack() -> Iterator[LocalStack | None]:
    """Stop the running stack (if any) for the duration, then start it again on the same ports.

    For tests that need a stack of their own while a longer-lived one (e.g. a session fixture) is
    running: one stack per process. On the same ports the restarted stack has the same URLs, so
    configuration that handlers cached at import stays valid; tables are re-created and re-seeded.
    """
    previous = _active
    if previous is None:
        yield None
        return
    ports = previous.bound_ports()
    previous.stop()
    try:
        yield previous
    finally:
        previous.http_port = ports.get("http", previous.http_port)
        previous.moto_port = ports.get("moto", previous.moto_port)
        if "standin" in ports:
            previous.standin_options["port"] = ports["standin"]
        previous.start()


class FunctionError(Exception):
    """A function invoked by the stack (e.g. `fire_schedule`) failed."""

    def __init__(self, function: str, result: InvokeResult) -> None:
        self.result = result
        detail = result.json() or {}
        super().__init__(f"{function}: {detail.get('errorType')}: {detail.get('errorMessage')}")


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LocalStackError(f"port {port} is not free: {exc}") from exc


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "calbridge local stack: the handler runs in-process\n")
    return buffer.getvalue()


def _drop_boto3_default_session() -> None:
    try:
        import boto3
    except ImportError:  # pragma: no cover
        return
    boto3.DEFAULT_SESSION = None
