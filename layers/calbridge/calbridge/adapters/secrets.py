"""Secrets from AWS Secrets Manager, cached per container (adapters/cache.py); the admin API
writes the companies' own Cal.com keys (docs/adr/0030-calcom-credential-per-company.md).

Read with botocore, which every function loads anyway (PynamoDB): Powertools' parameters utility
would add boto3 and its S3 transfer machinery to every cold start (~50 ms) for one call.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from calbridge.adapters.cache import TtlCache
from calbridge.errors import InvalidConfiguration, StoreUnavailable

_client_lock = threading.Lock()


def get_secret(name: str, max_age_s: int) -> str:
    """The secret's string value; cached for `max_age_s` so a warm container makes no call."""
    return _cache(max_age_s).get(name, lambda: _read(name))


def put_secret(name: str, value: str) -> bool:
    """Store `value` as the secret's current version, creating the secret when it does not exist;
    True when it was created. This container's cached value is dropped (other containers see the
    new one within their cache's TTL). The value is never part of an error."""
    try:
        try:
            _client().put_secret_value(SecretId=name, SecretString=value)
            created = False
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            _client().create_secret(Name=name, SecretString=value)
            created = True
    except (BotoCoreError, ClientError) as exc:
        raise StoreUnavailable(f"secret {name!r} could not be written") from exc
    finally:
        forget_secret(name)
    return created


def delete_secret(name: str) -> None:
    """Delete the secret at once (no recovery window: a key withdrawn is gone, and the name is free
    for the next one); a secret that does not exist is fine."""
    try:
        _client().delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise StoreUnavailable(f"secret {name!r} could not be deleted") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"secret {name!r} could not be deleted") from exc
    finally:
        forget_secret(name)


def forget_secret(name: str) -> None:
    """Drop the secret from every cache of this container: its next read asks Secrets Manager."""
    with _caches_lock:
        caches = list(_caches.values())
    for cached in caches:
        cached.invalidate(name)


_caches: dict[int, TtlCache[str, str]] = {}
_caches_lock = threading.Lock()


def _cache(max_age_s: int) -> TtlCache[str, str]:
    with _caches_lock:
        found = _caches.get(max_age_s)
        if found is None:
            found = _caches[max_age_s] = TtlCache(max_age_s)
        return found


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
