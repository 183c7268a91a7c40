"""API Gateway's JWT authorizer for HTTP APIs, as the local HTTP front enforces it.

What AWS documents ("Controlling access to HTTP APIs with JWT authorizers", API Gateway developer
guide) and this checks, in its order: the identity source (`$request.header.Authorization`, with or
without the `Bearer ` prefix) is present; the token is a JWS whose `kid` is in the issuer's JWKS
and whose RS256 signature verifies; `iss` equals the configured issuer; `aud` or, when there is no
`aud`, `client_id` is one of the configured audiences; `exp` is in the future, `nbf` and `iat` not.
Any failure answers 401 `{"message":"Unauthorized"}` without invoking the function. A valid token
reaches the function as `requestContext.authorizer.jwt.claims`, each value a string, a list
flattened to "[a b]" (how the authorizer passes `cognito:groups`; calbridge's parser reads both).

Locally the issuer is the Cognito user pool moto serves: its keys come from moto's
`/<pool id>/.well-known/jwks.json` instead of `https://cognito-idp.<region>.amazonaws.com/<pool>`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

JwksLoader = Callable[[str], dict[str, Any]]


@dataclass
class JwtAuthorizer:
    name: str
    issuer: str
    audiences: tuple[str, ...]
    load_jwks: JwksLoader  # issuer -> JWKS document
    _keys: KeySet | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def keys(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                self._keys = KeySet.import_key_set(self.load_jwks(self.issuer))  # type: ignore[arg-type]
            return self._keys

    def claims(self, authorization: str | None) -> dict[str, str] | None:
        """The claims as the function sees them, or None when the gateway answers 401."""
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            return None
        try:
            verified = jwt.decode(token, self.keys(), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return None
        if verified.get("iss") != self.issuer:
            return None
        audience = verified.get("aud", verified.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(a in self.audiences for a in audiences):
            return None
        now = time.time()
        if not isinstance(verified.get("exp"), (int, float)) or verified["exp"] <= now:
            return None
        if any(isinstance(verified.get(k), (int, float)) and verified[k] > now + 1 for k in ("nbf", "iat")):
            return None
        return {key: _as_string(value) for key, value in verified.items()}


def _as_string(value: Any) -> str:
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
