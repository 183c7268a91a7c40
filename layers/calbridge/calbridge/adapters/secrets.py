"""Secrets from AWS Secrets Manager, cached per container (adapters/cache.py).

Read with botocore, which every function loads anyway (PynamoDB): Powertools' parameters utility
would add boto3 and its S3 transfer machinery to every cold start (~50 ms) for one call.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from calbridge.adapters.cache import TtlCache
from calbridge.errors import InvalidConfiguration

_client_lock = threading.Lock()


def get_secret(name: str, max_age_s: int) -> str:
    """The secret's string value; cached for `max_age_s` so a warm container makes no call."""
    return _cache(max_age_s).get(name, lambda: _read(name))


@cache
def _cache(max_age_s: int) -> TtlCache[str, str]:
    return TtlCache(max_age_s)


def _read(name: str) -> str:
    try:
        value = _client().get_secret_value(SecretId=name).get("SecretString")
    except (BotoCoreError, ClientError) as exc:
        raise InvalidConfiguration(f"secret {name!r} could not be read") from exc
    if not isinstance(value, str) or not value:
        raise InvalidConfiguration(f"secret {name!r} is empty")
    return value


def _client() -> Any:
    with _client_lock:  # botocore sessions are not thread-safe while they build a client
        return _secrets_client()


@cache
def _secrets_client() -> Any:
    from botocore.config import Config
    from botocore.session import get_session

    return get_session().create_client(
        "secretsmanager", config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
    )
