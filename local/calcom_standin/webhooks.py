"""Signed Cal.com webhooks sent by the stand-in (background threads; failures are only logged).

Body: ``{"triggerEvent": ..., "createdAt": ..., "payload": {...}}`` (compact JSON, UTF-8);
headers ``Content-Type: application/json``, ``X-Cal-Signature-256`` = lower-case hex
HMAC-SHA256(secret, raw body) or the literal ``no-secret-provided``, and
``X-Cal-Webhook-Version: 2021-10-20``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

from local.calcom_standin.availability import iso_ms_z

log = logging.getLogger(__name__)

TRIGGERS = ("BOOKING_CREATED", "BOOKING_CANCELLED", "BOOKING_RESCHEDULED")


def signature(secret: str | None, body: bytes) -> str:
    if not secret:
        return "no-secret-provided"
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDispatcher:
    def __init__(self, now: Callable[[], datetime], timeout_s: float = 5.0) -> None:
        self._now = now
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._subscriptions: list[dict[str, Any]] = []
        self._deliveries: list[dict[str, Any]] = []
        self._next_id = 1
        self._threads: list[threading.Thread] = []

    def subscribe(
        self,
        url: str,
        secret: str | None = None,
        triggers: list[str] | None = None,
        *,
        static: bool = False,
        team_id: int | None = None,
    ) -> dict[str, Any]:
        """`team_id`: a team webhook, which Cal.com fires "for every booking on every event type
        belonging to this team" (TeamWebhooksController, apps/api/v2 `/v2/teams/:teamId/webhooks`),
        and for no other team's; None: every booking of the stand-in."""
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        wanted = list(triggers or TRIGGERS)
        unknown = [t for t in wanted if t not in TRIGGERS]
        if unknown:
            raise ValueError(f"unsupported triggers {unknown}; the stand-in sends {list(TRIGGERS)}")
        with self._lock:
            sub = {"id": self._next_id, "url": url, "secret": secret, "triggers": wanted, "static": static,
                   "team_id": None if team_id is None else int(team_id)}  # fmt: skip
            self._next_id += 1
            self._subscriptions.append(sub)
            return dict(sub)

    def clear(self, *, keep_static: bool = True) -> None:
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if keep_static and s["static"]]
            self._deliveries.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            subs = [{k: v for k, v in s.items() if k != "secret"} | {"has_secret": bool(s["secret"])}
                    for s in self._subscriptions]  # fmt: skip
            return {"subscriptions": subs, "deliveries": [dict(d) for d in self._deliveries]}

    def dispatch(self, trigger: str, payload: dict[str, Any]) -> None:
        with self._lock:
            team_id = (payload.get("team") or {}).get("id")
            targets = [
                dict(s)
                for s in self._subscriptions
                if trigger in s["triggers"] and s["team_id"] in (None, team_id)
            ]
        if not targets:
            return
        body = json.dumps(
            {"triggerEvent": trigger, "createdAt": iso_ms_z(self._now()), "payload": payload},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        for sub in targets:
            delivery = {
                "subscription_id": sub["id"],
                "url": sub["url"],
                "trigger": trigger,
                "uid": payload.get("uid"),
                "status": None,
                "error": None,
            }
            with self._lock:
                self._deliveries.append(delivery)
            thread = threading.Thread(
                target=self._send, args=(sub, body, delivery), name="calcom-standin-webhook", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _send(self, sub: dict[str, Any], body: bytes, delivery: dict[str, Any]) -> None:
        request = urllib.request.Request(
            sub["url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Cal-Signature-256": signature(sub["secret"], body),
                "X-Cal-Webhook-Version": "2021-10-20",
                "User-Agent": "calcom-standin-webhooks",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                status = response.status
            error = None
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
        except Exception as exc:  # delivery failures are only logged, as Cal.com does
            status, error = None, f"{type(exc).__name__}: {exc}"
        with self._lock:
            delivery["status"] = status
            delivery["error"] = error
        if error:
            log.warning("webhook %s to %s failed: %s", delivery["trigger"], sub["url"], error)

    def join(self, timeout: float = 5.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
