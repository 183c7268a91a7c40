"""Running Lambda handlers in-process, the way the Lambda Python runtime would.

* Handlers are imported from `CodeUri` + `Handler` ("module.function") under a unique module name
  per function: every `functions/*/app.py` is called `app.py`, so a plain `import app` would hand
  every function the first one. Sibling modules a handler imports at import time are bound per
  function as well (modules from other functions' folders are moved out of `sys.modules` while a
  function is imported). Limitation: a sibling module imported lazily at request time is looked up
  by plain name on `sys.path`, where the first function folder with that name wins.
* The event and the result make a JSON round trip, so a handler gets what JSON gives and returns
  what JSON can carry (Decimal is written as a number, as the Lambda runtime does).
* A handler exception becomes a function error: `FunctionError: Unhandled` and the payload
  `{"errorMessage", "errorType", "stackTrace"}`, so Step Functions Retry/Catch on the exception
  class name fire as they do in AWS.
* One instance handles one request at a time, as one Lambda execution environment does: a request
  that arrives while the function is busy runs on an idle copy of the handler module, or on a new
  copy (a cold start) imported under its own module name. Handlers may therefore keep per-request
  state in module globals (Powertools' resolvers keep `app.current_event`). The first instance
  (`module`, `handler`) serves every request that does not overlap another, so tests and the bench
  may patch it. Handlers given as a dotted module path cannot be imported twice and share one
  instance.
* Powertools' HTTP resolvers keep the request being resolved on their common base class
  (`BaseRouter.current_event`, `.lambda_context`): one request per process in Lambda, but here
  concurrent requests of any HTTP function would read each other's. Those two attributes hold one
  value per thread instead (`_one_request_per_thread`, applied on import).
* The function `Timeout` is enforced loosely: a handler that returns after its deadline is reported
  as `Sandbox.Timedout` ("Task timed out after N seconds"); it is not interrupted.
"""

from __future__ import annotations

import contextvars
import decimal
import importlib
import importlib.util
import itertools
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

LOG = logging.getLogger("local.lambda")

_import_lock = threading.RLock()


class _PerThread:
    """A class attribute with a value per thread (the last one set anywhere for a thread that set
    none, as a plain class attribute would give)."""

    def __init__(self) -> None:
        self._values = threading.local()
        self._last: Any = None

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        return getattr(self._values, "value", self._last)

    def __set__(self, instance: Any, value: Any) -> None:
        self._values.value = value
        self._last = value


def _one_request_per_thread() -> None:
    """Give `BaseRouter.current_event` and `.lambda_context` one value per thread. Powertools'
    resolve() assigns them on the class (event_handler/api_gateway.py), shared by every resolver in
    the process: fine in Lambda (one request per execution environment), but two HTTP functions
    served at once by this process would each read the other's request (a tool call answered with
    another call's booking). The descriptors sit on the class, for `app.current_event`, and on a
    metaclass, for `BaseRouter.current_event = ...` and reads of it."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if isinstance(BaseRouter.__dict__.get("current_event"), _PerThread):
        return
    descriptors = {"current_event": _PerThread(), "lambda_context": _PerThread()}
    for name, descriptor in descriptors.items():
        setattr(BaseRouter, name, descriptor)
    BaseRouter.__class__ = type("PerThreadRouterMeta", (type(BaseRouter),), descriptors)


_one_request_per_thread()

#: The logical id of the function whose handler runs in this thread (None outside a handler), for
#: the IAM judge (local/iam.py). Threads a handler starts itself do not inherit it.
RUNNING_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "running_function", default=None
)


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    def __init__(self, fn: LocalFunction, deadline: float) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = int(fn.memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the handler failed
    error_type: str | None = None
    duration_ms: float = 0.0

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler_spec: str
    timeout_s: float = 3.0
    memory_mb: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)
    module: ModuleType | None = None
    handler: Callable[[Any, Any], Any] | None = None
    _import_dirs: tuple[tuple[Path, ...], tuple[Path, ...]] = field(default=((), ()), init=False, repr=False)
    _busy: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _idle_copies: list[Callable[[Any, Any], Any]] = field(default_factory=list, init=False, repr=False)
    _copy_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False, repr=False)

    # -- import -------------------------------------------------------------------------
    def load(self, all_code_dirs: Sequence[Path], protected_dirs: Sequence[Path] = ()) -> None:
        """Import the handler (environment variables must already be in os.environ)."""
        self._import_dirs = (tuple(all_code_dirs), tuple(protected_dirs))
        self.module = self._import_module()
        self.handler = self._handler_of(self.module)

    def _import_module(self, copy: int = 0) -> ModuleType:
        """Import the handler module; a `copy` > 0 imports it again under a name of its own."""
        all_code_dirs, protected_dirs = self._import_dirs
        module_path = self._split_handler()[0]
        code_dir = str(self.code_uri)
        with _import_lock:
            parked = _park_foreign_modules(self.code_uri, all_code_dirs, protected_dirs)
            sys.path.insert(0, code_dir)
            try:
                if "." in module_path:
                    return importlib.import_module(module_path)
                file = self.code_uri / f"{module_path}.py"
                if not file.is_file():
                    file = self.code_uri / module_path / "__init__.py"
                if not file.is_file():
                    raise FileNotFoundError(
                        f"{self.logical_id}: handler module {module_path!r} not found under {code_dir}"
                    )
                unique = f"_calbridge_local_fn_{self.logical_id}_{module_path}" + (f"_{copy}" if copy else "")
                spec = importlib.util.spec_from_file_location(unique, file)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(unique, None)
                    raise
                return module
            finally:
                sys.path.remove(code_dir)
                # Keep the function folder importable for lazy imports (as in Lambda), behind the
                # layers and the project.
                if code_dir not in sys.path:
                    sys.path.append(code_dir)
                # Parked modules of other functions stay out of sys.modules: their functions hold
                # references already, and a later import must not pick this function's module.
                del parked

    def _split_handler(self) -> tuple[str, str]:
        module_path, _, func_name = self.handler_spec.rpartition(".")
        if not module_path or not func_name:
            raise ValueError(f"{self.logical_id}: Handler {self.handler_spec!r} is not 'module.function'")
        return module_path, func_name

    def _handler_of(self, module: ModuleType) -> Callable[[Any, Any], Any]:
        func_name = self._split_handler()[1]
        handler = getattr(module, func_name, None)
        if not callable(handler):
            raise AttributeError(f"{self.logical_id}: {self.handler_spec!r}: no callable {func_name!r}")
        return handler

    def _copy_handler(self) -> Callable[[Any, Any], Any]:
        """An idle copy's handler, or a new copy's (a cold start); list.pop and next() are atomic."""
        try:
            return self._idle_copies.pop()
        except IndexError:
            pass
        if "." in self._split_handler()[0]:
            assert self.handler is not None
            return self.handler  # a package module is imported once; its instance is shared
        return self._handler_of(self._import_module(copy=next(self._copy_numbers)))

    # -- invoke -------------------------------------------------------------------------
    def invoke(self, event: Any, *, enforce_timeout: bool = True) -> InvokeResult:
        """Invoke synchronously. `event` is bytes/str (a JSON document) or a JSON-able object."""
        if self.handler is None:
            raise RuntimeError(f"{self.logical_id} is not loaded")
        if isinstance(event, bytes | bytearray):
            text = event.decode("utf-8")
            payload = json.loads(text) if text.strip() else {}
        elif isinstance(event, str):
            payload = json.loads(event) if event.strip() else {}
        else:
            payload = json.loads(json.dumps(event, default=_json_default))
        if self._busy.acquire(blocking=False):
            try:
                return self._run(self.handler, payload, enforce_timeout)
            finally:
                self._busy.release()
        copy = self._copy_handler()
        try:
            return self._run(copy, payload, enforce_timeout)
        finally:
            self._idle_copies.append(copy)

    def _run(self, handler: Callable[[Any, Any], Any], payload: Any, enforce_timeout: bool) -> InvokeResult:
        started = time.monotonic()
        context = LambdaContext(self, started + self.timeout_s)
        running = RUNNING_FUNCTION.set(self.logical_id)
        try:
            result = handler(payload, context)
        except Exception as exc:  # the runtime reports every exception as a function error
            duration = (time.monotonic() - started) * 1000
            LOG.warning(
                "%s failed: %s: %s", self.logical_id, type(exc).__name__, exc, exc_info=LOG.isEnabledFor(10)
            )
            return InvokeResult(
                payload=_error_payload(exc),
                function_error="Unhandled",
                error_type=type(exc).__name__,
                duration_ms=duration,
            )
        finally:
            RUNNING_FUNCTION.reset(running)
        duration = (time.monotonic() - started) * 1000
        if enforce_timeout and duration > self.timeout_s * 1000:
            message = f"Task timed out after {self.timeout_s:.2f} seconds"
            LOG.warning("%s: %s", self.logical_id, message)
            body = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            return InvokeResult(
                json.dumps(body).encode(), "Unhandled", "Sandbox.Timedout", duration_ms=duration
            )
        try:
            out = json.dumps(result, default=_json_default).encode("utf-8")
        except (TypeError, ValueError) as exc:
            body = {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"}
            return InvokeResult(json.dumps(body).encode(), "Unhandled", "Runtime.MarshalError", duration)
        return InvokeResult(payload=out, duration_ms=duration)

    def invoke_async(self, event: Any, *, enforce_timeout: bool = True) -> None:
        """InvocationType=Event: run in the background, result discarded."""
        thread = threading.Thread(
            target=self.invoke,
            args=(event,),
            kwargs={"enforce_timeout": enforce_timeout},
            name=f"lambda-event-{self.logical_id}",
            daemon=True,
        )
        thread.start()


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error_payload(exc: BaseException) -> bytes:
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    body = {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": "", "stackTrace": stack}
    return json.dumps(body).encode("utf-8")


def _park_foreign_modules(
    code_uri: Path, all_code_dirs: Sequence[Path], protected_dirs: Sequence[Path]
) -> dict[str, ModuleType]:
    """Take modules loaded from other functions' folders out of sys.modules; return them.

    Folders that contain this function's folder or a protected (layer) folder are not "other
    functions' folders" (a CodeUri of `.` must not park the shared layer's modules).
    """
    own = code_uri.resolve()
    protected = [d.resolve() for d in protected_dirs]
    others = [
        d.resolve()
        for d in all_code_dirs
        if d.resolve() != own
        and not _is_relative_to(own, d.resolve())
        and not _is_relative_to(d.resolve(), own)
        and not any(_is_relative_to(p, d.resolve()) for p in protected)
    ]
    parked: dict[str, ModuleType] = {}
    if not others:
        return parked
    other_prefixes = tuple(_prefixes(others))
    protected_prefixes = tuple(_prefixes(protected))
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or name.startswith("_calbridge_local_fn_"):
            continue
        if file.startswith(other_prefixes) and not file.startswith(protected_prefixes or ("\0",)):
            parked[name] = sys.modules.pop(name)
    return parked


def take_modules_under(dirs: Sequence[Path]) -> dict[str, ModuleType]:
    """Remove from sys.modules every module loaded from one of `dirs`; return them.

    The stack imports the layer and function code afresh after it has written the functions'
    environment (as a Lambda cold start would), even if the process (a test session, say)
    imported some of it before with other settings.
    """
    prefixes = tuple(_prefixes([d.resolve() for d in dirs]))
    taken: dict[str, ModuleType] = {}
    if not prefixes:
        return taken
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.startswith(prefixes):
            taken[name] = sys.modules.pop(name)
    return taken


def restore_modules(dirs: Sequence[Path], saved: dict[str, ModuleType]) -> None:
    """Undo `take_modules_under`: drop what was imported from `dirs` since, put `saved` back."""
    take_modules_under(dirs)
    for name, module in saved.items():
        sys.modules.setdefault(name, module)


def _prefixes(dirs: Sequence[Path]) -> list[str]:
    out: list[str] = []
    for d in dirs:
        for variant in {str(d), os.path.abspath(d)}:
            out.append(variant.rstrip(os.sep) + os.sep)
    return out


def _is_relative_to(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True
