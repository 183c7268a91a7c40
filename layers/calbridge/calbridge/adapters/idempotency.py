"""Run an action at most once per key: Powertools idempotency on the IdempotencyTable.

Used for the Retell tools that change appointments (docs/adr/0008-tool-calls.md). The first run
of a key stores its answer for `expires_after_s`; a repeat gets that answer without running the
action again. A run that raises, or whose answer is not final (a transient failure a retry may
change), leaves nothing behind, so the next repeat runs the action again. A repeat that arrives
while the first run is still going waits up to `wait_s` for its answer, then raises StillRunning.

The handler registers each invocation's Lambda context (`register_lambda_context(context)`), so
an in-progress record of a run that timed out expires with that invocation.

Powertools' idempotency is imported by the first run: its DynamoDB layer imports boto3 (~25 ms of a
cold start), which inbound routing, lifecycle events and the read-only tools never need.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from calbridge.errors import CalbridgeError, StoreUnavailable
from calbridge.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: Idempotency records are "<KEY_PREFIX>#<md5 of the key>": independent of the function's name.
KEY_PREFIX = "tool_call"
POLL_S = 0.25
#: A waiting repeat stops this long before its own Lambda would time out.
DEADLINE_MARGIN_MS = 2000

#: What an action gives back: the answer (JSON-able) and whether it is final (may be replayed).
Outcome = tuple[dict[str, Any], bool]


class StillRunning(CalbridgeError):
    """The same key is still being run by another request; ask again in a moment."""


class _NotFinal(Exception):
    """Carries a transient answer out of the idempotent run, so Powertools drops its record."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("transient answer, not stored")
        self.answer = answer


def _replayed(answer: Any, record: Any) -> Any:
    """A repeat answered from the stored record (Powertools' response hook)."""
    logger.info("repeated tool call answered from its first run")
    metrics.add_metric(name="ToolCallReplayed", unit=MetricUnit.Count, value=1)
    return answer


def _run(*, key: Mapping[str, Any], action: Callable[[], Outcome]) -> dict[str, Any]:
    answer, final = action()
    if not final:
        raise _NotFinal(answer)
    # In the form a repeat reads back (Powertools stores JSON with sorted keys): the same bytes.
    return json.loads(json.dumps(answer, sort_keys=True))


class OnceOnly:
    def __init__(
        self,
        table_name: str,
        *,
        expires_after_s: int,
        wait_s: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table_name = table_name
        self._expires_after_s = expires_after_s
        self._wait_s = wait_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._lambda_context: LambdaContext | None = None

    def register_lambda_context(self, context: LambdaContext) -> None:
        """The running invocation: its remaining time bounds a run's in-progress record and a wait."""
        self._lambda_context = context

    @cached_property
    def config(self) -> IdempotencyConfig:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return IdempotencyConfig(
            expires_after_seconds=self._expires_after_s,
            raise_on_no_idempotency_key=True,
            response_hook=_replayed,
        )

    @cached_property
    def _once(self) -> Callable[..., dict[str, Any]]:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

        # The DynamoDB client is built on first use: read-only tools never pay for it.
        persistence = DynamoDBPersistenceLayer(table_name=self._table_name)
        return idempotent_function(
            _run,
            data_keyword_argument="key",
            persistence_store=persistence,
            config=self.config,
            key_prefix=KEY_PREFIX,
        )

    def run(self, key: Mapping[str, Any], action: Callable[[], Outcome]) -> dict[str, Any]:
        """The stored answer for `key`, or `action`'s answer (stored when final)."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyInconsistentStateError,
            IdempotencyPersistenceLayerError,
        )

        if self._lambda_context is not None:
            self.config.register_lambda_context(self._lambda_context)
        give_up = self._monotonic() + self._wait_s
        while True:
            try:
                return self._once(key=dict(key), action=action)
            except _NotFinal as transient:
                return transient.answer
            except IdempotencyAlreadyInProgressError as running:
                if self._monotonic() + POLL_S > give_up or self._out_of_time():
                    raise StillRunning("the same tool call is still running") from running
                self._sleep(POLL_S)
            except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as exc:
                raise StoreUnavailable("the idempotency store is unavailable") from exc

    def _out_of_time(self) -> bool:
        context = self._lambda_context
        if context is None:
            return False
        return context.get_remaining_time_in_millis() < DEADLINE_MARGIN_MS + POLL_S * 1000
