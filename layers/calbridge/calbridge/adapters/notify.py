"""Outgoing confirmations: e-mail through SES v2 (SendEmail with a raw MIME message, so the ICS
file travels as a text/calendar part) and SMS through SNS (Publish to a phone number).

Clients are built with botocore on first use, as adapters/secrets.py does: the notifications
function never loads boto3 for them. SES or SNS refusing or unreachable is ConfirmationNotSent:
the job is retried by its queue.
"""

from __future__ import annotations

import threading
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from calbridge.errors import ConfirmationNotSent
from calbridge.observability import redact_text

_client_lock = threading.Lock()  # botocore sessions are not thread-safe while they build a client


def mime_message(
    *,
    sender: str,
    sender_name: str,
    recipient: str,
    recipient_name: str,
    subject: str,
    text: str,
    calendar: str,
    calendar_method: str,
    calendar_filename: str,
) -> bytes:
    """multipart/mixed: the plain text, then the ICS as a text/calendar attachment carrying its
    iTIP method (RFC 6047 2.4); CRLF line ends, non-ASCII headers as encoded words."""
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=sender_name, addr_spec=sender)
    message["To"] = Address(display_name=recipient_name, addr_spec=recipient)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_attachment(
        calendar.encode("utf-8"),
        maintype="text",
        subtype="calendar",
        filename=calendar_filename,
        params={"method": calendar_method, "charset": "utf-8"},
    )
    return message.as_bytes()


class Mailer:
    """SES v2 SendEmail of a raw message; the recipients are the message's own headers."""

    def __init__(self, client_factory: Any = None) -> None:
        self._client_factory = client_factory or (lambda: lean_client("sesv2"))

    def send_raw(self, sender: str, raw: bytes) -> str:
        try:
            answer = self._client_factory().send_email(
                FromEmailAddress=sender, Content={"Raw": {"Data": raw}}
            )
        except (BotoCoreError, ClientError) as exc:
            raise ConfirmationNotSent(f"SES did not take the e-mail: {_reason(exc)}") from exc
        return str(answer["MessageId"])


class SmsSender:
    """SNS Publish to a phone number, as a transactional SMS (delivered even to numbers that
    opted out of promotional messages), from the configured sender id where one is set."""

    def __init__(self, sender_id: str | None, client_factory: Any = None) -> None:
        self._sender_id = sender_id
        self._client_factory = client_factory or (lambda: lean_client("sns"))

    def send(self, phone: str, text: str) -> str:
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        try:
            answer = self._client_factory().publish(
                PhoneNumber=phone, Message=text, MessageAttributes=attributes
            )
        except (BotoCoreError, ClientError) as exc:
            raise ConfirmationNotSent(f"SNS did not take the SMS: {_reason(exc)}") from exc
        return str(answer["MessageId"])


def _reason(exc: Exception) -> str:
    """SES's and SNS's messages may name the recipient: masked, as in every log line."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return redact_text(f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip())
    return type(exc).__name__


def lean_client(service: str) -> Any:
    """A botocore client of `service`, one per container (no boto3 import)."""
    with _client_lock:
        return _build_client(service)


@cache
def _build_client(service: str) -> Any:
    from botocore.config import Config
    from botocore.session import get_session

    retries = {"max_attempts": 3, "mode": "standard"}
    return get_session().create_client(
        service, config=Config(connect_timeout=2, read_timeout=5, retries=retries)
    )
