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

* Cognito: `GlobalSignOut` (the console's sign-out) looks the access token up in the backend of
  the request's region. An unsigned browser request names no region (the real endpoint is
  regional: cognito-idp.<region>.amazonaws.com), so moto looked in us-east-1 and refused every
  token. It now finds the token's pool in any region, as moto's `InitiateAuth` already does.

* DynamoDB: moto's server is threaded but its DynamoDB backend has no locking, so two concurrent
  conditional writes could both pass their condition. Each DynamoDB request now runs under one
  lock, which gives the per-request atomicity DynamoDB guarantees (conditional writes and
  transactions as locks depend on it).

Emulator overhead AWS does not have, removed so local timings (`make bench`) measure our code
rather than moto's bookkeeping; behaviour is unchanged (see `_patch_speed`):
* DynamoDB `TransactWriteItems` deep-copied every table it touches once per item (for its
  rollback), so a 7-item transaction cost grew with the table (~100 ms at a few hundred items).
  It now snapshots only the items the transaction writes and restores those on a cancellation.
* Step Functions built a new boto3 client for every task (~5-15 ms each); the clients are
  reused (boto3 clients are thread-safe), as the service reuses its connections.
* Step Functions parsed the ASL definition (ANTLR, ~20 ms) at every execution start and every
  JSONPath (ply, ~0.5 ms, dozens per execution) at every use; both are parsed once and cached
  (the parsed program keeps no execution state: that lives in the execution's environment).
* moto's HTTP dispatcher listed its own package directory (~170 stat calls) on every request.
* moto's response serializer walked every DynamoDB attribute value through the 10 members of
  botocore's AttributeValue shape (about half the time of a GetItem or Query). Values moto holds
  in wire form already (S, N, BOOL, NULL, SS, NS, M, L of those) are written as they are: the
  same JSON the serializer produces for them.

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
        _patch_cognito()
        _patch_speed()
        _installed = True


def _patch_cognito() -> None:
    from moto.cognitoidp.responses import CognitoIdpResponse, EmptyResult

    def global_sign_out(self: CognitoIdpResponse) -> EmptyResult:
        access_token = self._get_param("AccessToken")
        backend = self._get_region_agnostic_backend()._find_backend_by_access_token(access_token)
        backend.global_sign_out(access_token)
        return EmptyResult()

    CognitoIdpResponse.global_sign_out = global_sign_out  # type: ignore[method-assign]


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


# ------------------------------------------------------------------ emulator overhead


def _patch_speed() -> None:
    _snapshot_touched_items_in_transactions()
    _reuse_step_functions_clients()
    _cache_asl_parsing()
    _cache_moto_module_list()
    _serialize_wire_form_attribute_values()


class _NoTableCopies:
    """Stands in for the `copy` module inside moto.dynamodb.models: `deepcopy(table)` gives the
    table itself, so moto's per-item whole-table backup (and its rollback to it) cost nothing.
    Everything else is the real `copy`."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)


def _snapshot_touched_items_in_transactions() -> None:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    dynamodb_models.copy = _NoTableCopies(Table)  # type: ignore[assignment]

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        # (table, hash key, range key, a copy of the item before the transaction or None)
        before: list[tuple[Table, Any, Any, Any]] = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = self.tables.get(op.get("TableName", ""))
                key = op.get("Item") if op_type == "Put" else op.get("Key")
                if table is None or not isinstance(key, dict):
                    continue
                try:
                    hash_key, range_key = self.get_keys_value(table, key)
                except Exception:  # an invalid key: moto rejects the op before writing it
                    continue
                current = table.get_item(hash_key, range_key)
                before.append((table, hash_key, range_key, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(before):
                _restore_item(table, hash_key, range_key, item)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore_item(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if item is None:
        table.delete_item(hash_key, range_key)
    elif range_key is not None:
        table.items[hash_key][range_key] = item
    else:
        table.items[hash_key] = item


def _reuse_step_functions_clients() -> None:
    import functools
    import sys

    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if getattr(original, "local_reused", False):
        return

    @functools.lru_cache(maxsize=64)
    def cached(region: str, service: str, stubbed: bool, port: str) -> Any:
        # moto ignores the task's credentials here (fixed fake keys); the key is what it uses.
        return original(region=region, service=service)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return cached(region, service, bool(botocore_stubber.enabled), moto_server_port())

    boto_client_for.local_reused = True  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for  # type: ignore[assignment]
    # The task modules imported the function by name: rebind it where it was imported already.
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.") and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _cache_asl_parsing() -> None:
    import functools

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # JSONPath expressions are immutable trees: one parse per path.
    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[assignment]
    result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[assignment]

    @functools.lru_cache(maxsize=64)
    def program_of(definition: str) -> Any:
        program = AmazonStateLanguageParser.parse(definition)[0]
        _assign_heap_keys(program, EvalComponent)
        return program

    def entrypoint(self: ExecutionWorker) -> Any:
        return program_of(self._evaluation_details.state_machine_details.definition)

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]


def _assign_heap_keys(root: Any, component_type: type) -> None:
    """Give every component of a parsed program its heap key now. Components keep per-execution
    values in the execution's heap under that key, drawn on first use: drawn concurrently by two
    executions of a shared program, one of them would lose its values (retry counts)."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, component_type):
            _ = value.heap_key  # type: ignore[attr-defined]
            pending.extend(vars(value).values())
        elif isinstance(value, list | tuple | set | frozenset):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())


def _cache_moto_module_list() -> None:
    import functools

    from moto import backends

    listed = backends.list_of_moto_modules
    backends.list_of_moto_modules = functools.cache(lambda: tuple(listed()))  # type: ignore[assignment]


_WIRE_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _in_wire_form(value: Any) -> bool:
    """A DynamoDB attribute value of plain JSON types only (no binary, no moto objects)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in _WIRE_SCALARS:
        return isinstance(inner, _WIRE_SCALARS[kind])
    if kind in ("SS", "NS"):
        return isinstance(inner, list) and all(isinstance(item, str) for item in inner)
    if kind == "L":
        return isinstance(inner, list) and all(_in_wire_form(item) for item in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(
            isinstance(name, str) and _in_wire_form(item) for name, item in inner.items()
        )
    return False


def _serialize_wire_form_attribute_values() -> None:
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and self.operation_model.service_model.service_name == "dynamodb"
            and _in_wire_form(value)
        ):
            serialized[key] = value
            return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]


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
