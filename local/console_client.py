"""Signing in to the console as its pages do, for the tests, the demo and scripts.

The console reads `config.json` for its Cognito app client, signs in at Cognito with
USER_PASSWORD_AUTH (docs/adr/0037-console.md) and sends the ID token as a bearer token to
`/console/api/...`. Against the local stack, Cognito is moto's server.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

COGNITO_TARGET = "AWSCognitoIdentityProviderService."


class SignInRefused(Exception):
    """Cognito refused the user name or password (its error type and message)."""


def cognito_call(config: dict[str, Any], action: str, body: dict[str, Any]) -> dict[str, Any]:
    """One unsigned Cognito user pool call, as a browser makes it."""
    answer = httpx.post(
        config["cognito_endpoint"],
        headers={"content-type": "application/x-amz-json-1.1", "x-amz-target": COGNITO_TARGET + action},
        content=json.dumps(body),
        timeout=10,
    )
    if answer.status_code != 200:
        detail = answer.json() if answer.content else {}
        raise SignInRefused(
            f"{detail.get('__type', answer.status_code)}: {detail.get('message', answer.text)}"
        )
    return answer.json()


def sign_in(base_url: str, email: str, password: str) -> dict[str, Any]:
    """Cognito's AuthenticationResult (IdToken, AccessToken, RefreshToken, ExpiresIn)."""
    config = httpx.get(f"{base_url}/console/config.json", timeout=10).json()
    answer = cognito_call(
        config,
        "InitiateAuth",
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": config["client_id"],
            "AuthParameters": {"USERNAME": email, "PASSWORD": password},
        },
    )
    if "AuthenticationResult" not in answer:
        raise SignInRefused(f"challenge {answer.get('ChallengeName')}: set a permanent password first")
    return answer["AuthenticationResult"]


def console_api(base_url: str, email: str, password: str) -> httpx.Client:
    """An HTTP client of `/console/api`, signed in as the user."""
    tokens = sign_in(base_url, email, password)
    return httpx.Client(
        base_url=f"{base_url}/console/api",
        headers={"authorization": f"Bearer {tokens['IdToken']}"},
        timeout=30,
    )
