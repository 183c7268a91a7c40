"""A stand-in for Retell's side of the wire: signs requests exactly as Retell does and posts them.

Used by the demo, the e2e tests and the benchmark, so every scripted call goes through the HTTP
front and the real signature check.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx

from calbridge.adapters.retell.signature import sign

# The documented local default (README); the local stack stores it as the Retell secret.
LOCAL_RETELL_API_KEY = "key_local_calbridge_dev"


def retell_api_key() -> str:
    return os.environ.get("RETELL_API_KEY", LOCAL_RETELL_API_KEY)


def compact(body: Any) -> bytes:
    """Retell sends compact JSON with raw UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RetellSimulator:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 15.0) -> None:
        self.api_key = api_key or retell_api_key()
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s)

    def post(
        self, path: str, body: Any, *, signature: str | None = None, raw: bytes | None = None
    ) -> httpx.Response:
        """POST a signed body; pass `signature`/`raw` to send something Retell would not."""
        payload = compact(body) if raw is None else raw
        header = signature if signature is not None else sign(payload, self.api_key, int(time.time() * 1000))
        headers = {"content-type": "application/json", "x-retell-signature": header}
        return self._http.post(path, content=payload, headers=headers)

    def inbound(self, from_number: str, to_number: str, agent_id: str = "agent_local_demo") -> httpx.Response:
        body = {
            "event": "call_inbound",
            "call_inbound": {"agent_id": agent_id, "from_number": from_number, "to_number": to_number},
        }
        return self.post("/retell/inbound", body)

    def tool(self, name: str, args: dict[str, Any], call: dict[str, Any]) -> httpx.Response:
        return self.post("/retell/functions", {"name": name, "args": args, "call": call})

    def close(self) -> None:
        self._http.close()
