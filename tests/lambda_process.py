"""Run one Lambda handler the way the Lambda Python runtime does, in this process of its own: the
handler module imported fresh (its function folder and the layer on sys.path), then invoked once per
event. Used by tests/integration/test_metrics_flush.py, which reads what it prints.

Input (stdin, JSON): {"code_uri", "layer_dirs", "handler" ("module.function"), "function_name",
"now" (ISO instant the clock starts at: the tests' pinned today), "events": [...]}.
Output (stdout): whatever the handler prints (its log lines, its EMF records), each invocation
between `@@start <i>` and `@@end <i> {"recorded": [metric names added to the flush], "error": ...}`.
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from datetime import datetime
from typing import Any

START, END = "@@start", "@@end"


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    spec = json.loads(sys.stdin.read())
    import time_machine

    time_machine.travel(datetime.fromisoformat(spec["now"]), tick=True).start()
    sys.path[:0] = [spec["code_uri"], *spec["layer_dirs"]]

    from aws_lambda_powertools.metrics.metrics import Metrics

    recorded: list[str] = []
    add_metric = Metrics.add_metric

    def spy(self: Metrics, name: str, *args: Any, **kwargs: Any) -> None:
        recorded.append(name)
        add_metric(self, name, *args, **kwargs)

    Metrics.add_metric = spy  # type: ignore[method-assign]

    module_name, _, function = spec["handler"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), function)
    for index, event in enumerate(spec["events"]):
        recorded.clear()
        print(f"{START} {index}", flush=True)
        error = None
        try:
            handler(event, LambdaContext(spec["function_name"]))
        except Exception as exc:  # the runtime reports it; the test reads the metrics all the same
            error = f"{type(exc).__name__}: {exc}"
        print(f"{END} {index} {json.dumps({'recorded': recorded, 'error': error})}", flush=True)


if __name__ == "__main__":
    main()
