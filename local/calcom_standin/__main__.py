"""``python -m local.calcom_standin --fixture local/fixtures/salon_demo.json --port 8788``

Prints the base URL and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from local.calcom_standin.server import CalcomStandIn

DEFAULT_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "salon_demo.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.calcom_standin", description=__doc__)
    parser.add_argument(
        "--fixture", default=str(DEFAULT_FIXTURE), help="fixture JSON (uses its calcom section)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788, help="0 = any free port")
    parser.add_argument("--no-rate-limit", action="store_true", help="do not refuse requests over 120/min")
    parser.add_argument(
        "--lenient-versions",
        action="store_true",
        help="serve requests with a missing or wrong cal-api-version instead of answering as Cal.com would",
    )
    parser.add_argument("--webhook-url", help="send signed BOOKING_* webhooks to this URL")
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )

    webhooks = [{"url": args.webhook_url, "secret": args.webhook_secret}] if args.webhook_url else None
    standin = CalcomStandIn(
        args.fixture,
        host=args.host,
        port=args.port,
        rate_limit=not args.no_rate_limit,
        strict_versions=not args.lenient_versions,
        webhooks=webhooks,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = standin.start()
    print(
        f"Cal.com stand-in listening on {url} (API key {standin.api_key!r}; control API {url}/_standin)",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        standin.stop()
        print("Cal.com stand-in stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
