"""Secrets from AWS Secrets Manager, cached per container (Powertools parameters)."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters

from calbridge.errors import InvalidConfiguration


def get_secret(name: str, max_age_s: int) -> str:
    """The secret's string value; cached for `max_age_s` so a warm container makes no call."""
    try:
        value = parameters.get_secret(name, max_age=max_age_s)
    except parameters.exceptions.GetParameterError as exc:
        raise InvalidConfiguration(f"secret {name!r} could not be read") from exc
    if not isinstance(value, str) or not value:
        raise InvalidConfiguration(f"secret {name!r} is empty")
    return value
