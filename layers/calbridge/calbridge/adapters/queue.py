"""An SQS queue of JSON jobs (the team sync's): send one, send many, postpone a failed one.

boto3 finds the endpoint through the standard settings (AWS_ENDPOINT_URL on the local stack).
SQS failures surface as QueueUnavailable; a batch send reports which entries SQS refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from calbridge.errors import QueueUnavailable
from calbridge.observability import logger, metrics

SEND_BATCH_LIMIT = 10  # SendMessageBatch takes at most 10 entries
_SEND_ROUNDS = 3  # a batch entry SQS failed on its side (not the sender's fault) is sent again


@dataclass
class BatchSendResult:
    message_ids: dict[int, str] = field(default_factory=dict)  # index of the job -> message id
    failures: dict[int, str] = field(default_factory=dict)  # index of the job -> SQS's reason


def sqs_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"}),
    )


class JobQueue:
    def __init__(self, queue_url: str, client_factory: Callable[[], Any] = sqs_client) -> None:
        self.queue_url = queue_url
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def send(self, job: BaseModel, *, delay_s: int = 0) -> str:
        """Enqueue one job, visible after `delay_s` (SQS allows 0-900); its SQS message id."""
        try:
            answer = self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=job.model_dump_json(), DelaySeconds=int(delay_s)
            )
        except (ClientError, BotoCoreError) as exc:
            raise QueueUnavailable("the job queue is unavailable") from exc
        return str(answer["MessageId"])

    def send_many(self, jobs: Sequence[BaseModel]) -> BatchSendResult:
        """Enqueue jobs with SendMessageBatch, 10 at a time; entries SQS fails on its side are sent
        again (twice at most). QueueUnavailable only when SQS cannot be reached at all."""
        result = BatchSendResult()
        for start in range(0, len(jobs), SEND_BATCH_LIMIT):
            pending = {index: jobs[index] for index in range(start, min(start + SEND_BATCH_LIMIT, len(jobs)))}
            for _ in range(_SEND_ROUNDS):
                if not pending:
                    break
                entries = [{"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in pending.items()]
                try:
                    answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
                except (ClientError, BotoCoreError) as exc:
                    raise QueueUnavailable("the job queue is unavailable") from exc
                for ok in answer.get("Successful", []):
                    index = int(ok["Id"])
                    result.message_ids[index] = str(ok["MessageId"])
                    pending.pop(index, None)
                retry: dict[int, BaseModel] = {}
                for failed in answer.get("Failed", []):
                    index = int(failed["Id"])
                    result.failures[index] = f"{failed.get('Code')}: {failed.get('Message', '')}".strip()
                    if not failed.get("SenderFault"):
                        retry[index] = pending[index]
                pending = retry
            for index in result.message_ids:
                result.failures.pop(index, None)
        return result

    def postpone(self, receipt_handle: str, delay_s: int) -> None:
        """Make a received message visible again only after `delay_s` (a retry's backoff)."""
        try:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=int(delay_s)
            )
        except (ClientError, BotoCoreError) as exc:
            raise QueueUnavailable("the job queue is unavailable") from exc


def job_or_none[J](
    body: str, read: Callable[[str], J], *, message_id: str, label: str, metric: str
) -> J | None:
    """The job `read` makes of an SQS message body, or None when the body is no such job: logged
    ("<label> job rejected: not a job", with the first problem) and counted as `metric`. Such a
    message can never succeed, so workers drop it rather than retry it into the dead-letter queue."""
    try:
        return read(body)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        logger.warning(
            f"{label} job rejected: not a job", message_id=message_id, reason=f"{where}: {problem['msg']}"
        )
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        return None
