"""What moto 5.2 lacks for the local stack, added by patching a few of its classes.

* Step Functions: `StartSyncExecution` (moto has `SyncExecution` in its ASL parser backend, but no
  API operation for it). Added to `StepFunctionResponse` (the API) and
  `StepFunctionsParserBackend` (the model) with AWS semantics: EXPRESS machines only
  (`StateMachineTypeNotSupported` otherwise), the ASL runs synchronously in the request, status
  SUCCEEDED | FAILED | TIMED_OUT, `output` only on success, `error`/`cause` on failure.
* Step Functions: `StartExecution` without a name gets a generated one (moto's parser backend would
  build the ARN `...:None`).
* Lambda: `LambdaFunction.invoke` would start a Docker container. It is replaced by a dispatcher
  that runs our real handler in-process when the function is one of the stack's (any other
  function keeps moto's behaviour). Every path into a function goes through it: `Invoke` from
  boto3, Step Functions tasks (both `arn:aws:states:::lambda:invoke` and a plain function ARN),
  EventBridge targets, SQS event source mappings.

* DynamoDB: moto's server is threaded but its DynamoDB backend has no locking, so two concurrent
  conditional writes could both pass their condition. Each DynamoDB request now runs under one
  lock, which gives the per-request atomicity DynamoDB guarantees (conditional writes and
  transactions as locks depend on it).

`install()` is idempotent; `set_lambda_dispatcher(None)` turns the Lambda dispatch off again.
"""

from __future__ import annotations

import collections
import copy
import datetime
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.core.config import default_user_config

# (function_name, payload bytes, invocation type) -> (payload bytes, function error or None),
# or None when the function is not one the dispatcher runs (moto's own behaviour then applies).
LambdaDispatcher = Callable[[str, bytes, str], tuple[bytes, str | None] | None] | None

_lock = threading.Lock()
_installed = False
_dispatcher: LambdaDispatcher = None
_SYNC_EXECUTIONS_KEPT = 200


def enable_stepfunctions_parser() -> None:
    """Make moto's Step Functions run the real ASL (its 'parser' backend)."""
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True


def set_lambda_dispatcher(dispatcher: LambdaDispatcher) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        _patch_stepfunctions()
        _patch_lambda()
        _patch_dynamodb()
        _installed = True


# ------------------------------------------------------------------------- Step Functions


def _patch_stepfunctions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions import exceptions as sfn_exceptions
    from moto.stepfunctions.parser.api import StateMachineType, SyncExecutionStatus
    from moto.stepfunctions.parser.backend.execution import SyncExecution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    class StateMachineTypeNotSupported(sfn_exceptions.AWSError):
        TYPE = "StateMachineTypeNotSupported"
        STATUS = 400

    def start_sync_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> dict[str, Any]:
        state_machine = self.describe_state_machine(state_machine_arn)
        if getattr(state_machine, "type", "STANDARD") != "EXPRESS":
            raise StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine"
            )
        if name:
            self._validate_name(name)
        input_data = "{}" if execution_input is None else execution_input
        try:
            json.loads(input_data)
        except ValueError as exc:
            raise sfn_exceptions.InvalidExecutionInput(
                f"Invalid State Machine Execution Input: '{exc}'"
            ) from None
        # A snapshot of the definition for this execution; executions and backend are shared
        # (they hold threads and locks), like moto's own start_execution does.
        clone = copy.deepcopy(
            state_machine,
            {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend},
        )
        clone.sm_type = StateMachineType.EXPRESS
        exec_name = name or str(uuid.uuid4())
        exec_arn = (
            f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:express:"
            f"{state_machine.name}:{exec_name}:{uuid.uuid4()}"
        )
        execution = SyncExecution(
            name=exec_name,
            sm_type=StateMachineType.EXPRESS,
            role_arn=clone.roleArn,
            exec_arn=exec_arn,
            account_id=self.account_id,
            region_name=self.region_name,
            state_machine=clone,
            start_date=datetime.datetime.now(tz=datetime.UTC),
            cloud_watch_logging_session=None,
            input_data=input_data,
            trace_header=trace_header,
            activity_store={},
        )
        execution.start()  # runs the whole program in this thread
        kept = self.__dict__.setdefault("local_sync_executions", collections.OrderedDict())
        kept[exec_arn] = execution
        while len(kept) > _SYNC_EXECUTIONS_KEPT:
            kept.popitem(last=False)
        out = dict(execution.to_start_sync_execution_output())
        if out.get("status") != SyncExecutionStatus.SUCCEEDED:
            out.pop("output", None)
            out.pop("outputDetails", None)
        return out

    def response_start_sync_execution(self: StepFunctionResponse) -> ActionResult:
        backend = self.stepfunction_backend
        if not hasattr(backend, "start_sync_execution"):
            raise sfn_exceptions.ValidationException(
                "StartSyncExecution needs moto's Step Functions parser "
                '(default_user_config["stepfunctions"]["execute_state_machine"] = True)'
            )
        result = backend.start_sync_execution(
            self._get_param("stateMachineArn"),
            name=self._get_param("name"),
            execution_input=self._get_param("input"),
            trace_header=self._get_param("traceHeader"),
        )
        return ActionResult(result)

    original_start_execution = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        if name:
            self._validate_name(name)
        return original_start_execution(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    StepFunctionsParserBackend.start_sync_execution = start_sync_execution  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    StepFunctionResponse.start_sync_execution = response_start_sync_execution  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------- Lambda


def _patch_dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    backend_lock = threading.RLock()

    def call_action(self: DynamoHandler) -> Any:
        with backend_lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _header(headers: Any, name: str, default: str) -> str:
    if not headers:
        return default
    getter = getattr(headers, "get", None)
    if getter is None:
        return default
    for key in (name, name.lower(), name.title()):
        value = getter(key)
        if value:
            return str(value)
    if isinstance(headers, dict):
        for key, value in headers.items():
            if key.lower() == name.lower():
                return str(value)
    return default


def _patch_lambda() -> None:
    from moto.awslambda.models import LambdaFunction

    original_invoke = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> str | bytes:
        dispatcher = _dispatcher
        if dispatcher is None:
            return original_invoke(self, body, request_headers, response_headers)
        invocation_type = _header(request_headers, "X-Amz-Invocation-Type", "RequestResponse")
        if isinstance(body, str):
            body = body.encode("utf-8")
        result = dispatcher(self.function_name, body or b"", invocation_type)
        if result is None:
            return original_invoke(self, body, request_headers, response_headers)
        payload, function_error = result
        if function_error:
            response_headers["x-amz-function-error"] = function_error
        response_headers["x-amz-executed-version"] = "$LATEST"
        return payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
