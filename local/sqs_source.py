"""SQS event sources of the local stack: what Lambda's SQS poller does, in-process, against moto.

A function event `Type: SQS` becomes an `SqsEventSource`. `deliver_batch` receives up to the
source's BatchSize visible messages (several receives of at most 10), invokes the function with
Lambda's SQS event (`{"Records": [{messageId, receiptHandle, body, attributes, messageAttributes,
md5OfBody, eventSource, eventSourceARN, awsRegion}]}`) and deletes the messages that succeeded.
With `FunctionResponseTypes: [ReportBatchItemFailures]` the ids in the answer's
`batchItemFailures` stay in the queue; a function error, or an answer Lambda would not accept
(not an object, an item without a valid `itemIdentifier` of this batch), keeps the whole batch, as
in AWS. Messages that stay become visible again when their visibility timeout ends (the queue's,
or what the function set with ChangeMessageVisibility), and moto counts the receives, so the
redrive policy moves a message to its dead-letter queue on the receive after `maxReceiveCount`.

`SqsPoller` runs the deliveries on a background thread (`make serve`); tests call
`LocalStack.drain_queue` instead and see each delivery.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from local.lambda_runtime import InvokeResult

LOG = logging.getLogger("local.sqs")

RECEIVE_LIMIT = 10  # ReceiveMessage returns at most 10 messages
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)


@dataclass(frozen=True)
class SqsEventSource:
    function: str  # logical id of the function
    queue: str  # logical id of the queue
    queue_url: str
    queue_arn: str
    batch_size: int = 10  # SAM's default for SQS
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass
class SqsDelivery:
    """One invocation of a function with a batch of messages, and what became of them."""

    function: str
    queue: str
    message_ids: list[str]
    failed_ids: list[str]  # left in the queue (not deleted)
    result: InvokeResult
    receive_counts: dict[str, int] = field(default_factory=dict)

    @property
    def deleted_ids(self) -> list[str]:
        return [m for m in self.message_ids if m not in self.failed_ids]


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One received message (boto3's ReceiveMessage shape) as a record of Lambda's SQS event."""
    attributes = message.get("Attributes") or {}
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        item: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        message_attributes[name] = item
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {key: str(attributes[key]) for key in _RECORD_ATTRIBUTES if key in attributes},
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_message_ids(
    result: InvokeResult, message_ids: list[str], report_batch_item_failures: bool
) -> list[str]:
    """The messages Lambda would leave in the queue after this invocation."""
    if result.function_error:
        return list(message_ids)
    if not report_batch_item_failures:
        return []
    try:
        answer = result.json()
    except ValueError:
        return list(message_ids)
    if answer is None:
        return []
    if not isinstance(answer, dict):
        return list(message_ids)
    failures = answer.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return list(message_ids)
    failed: list[str] = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            LOG.warning("batchItemFailures item %r is invalid: the whole batch failed", item)
            return list(message_ids)
        failed.append(identifier)
    return [m for m in message_ids if m in failed]


def deliver_batch(
    sqs: Any,
    source: SqsEventSource,
    invoke: Callable[[dict[str, Any]], InvokeResult],
    region: str,
    batch_size: int | None = None,
) -> SqsDelivery | None:
    """Receive one batch, invoke the function with it, delete what succeeded. None: queue empty."""
    wanted = max(1, batch_size or source.batch_size)
    messages: list[dict[str, Any]] = []
    while len(messages) < wanted:
        received = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(RECEIVE_LIMIT, wanted - len(messages)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            break
        messages.extend(received)
    if not messages:
        return None
    event = {"Records": [lambda_sqs_record(m, source.queue_arn, region) for m in messages]}
    result = invoke(event)
    ids = [m["MessageId"] for m in messages]
    failed = failed_message_ids(result, ids, source.report_batch_item_failures)
    _delete(sqs, source.queue_url, [m for m in messages if m["MessageId"] not in failed])
    counts = {
        m["MessageId"]: int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 0)) for m in messages
    }
    LOG.info("%s: %d message(s) from %s, %d failed", source.function, len(ids), source.queue, len(failed))
    return SqsDelivery(source.function, source.queue, ids, failed, result, counts)


def _delete(sqs: Any, queue_url: str, messages: Iterable[dict[str, Any]]) -> None:
    done = list(messages)
    for start in range(0, len(done), RECEIVE_LIMIT):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(done[start : start + RECEIVE_LIMIT])
        ]
        answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        for failure in answer.get("Failed", []):
            LOG.warning("deleting a delivered message failed: %s", failure)


class SqsPoller:
    """Delivers the event sources' queues in the background, like Lambda's pollers (`make serve`)."""

    def __init__(self, deliver_all: Callable[[], int], interval_s: float = 0.5) -> None:
        self._deliver_all = deliver_all
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="local-sqs-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._deliver_all()
            except Exception:  # keep polling: a dev server must survive a bad moment
                LOG.warning("SQS poller: delivery failed", exc_info=True)
            self._stop.wait(self.interval_s)
