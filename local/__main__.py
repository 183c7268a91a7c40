"""The local stack's command line.

    python -m local serve [--port 3000] [--no-standin] [--no-seed]
        Runs the whole system in this process (moto, handlers, HTTP front, Cal.com stand-in) until
        SIGINT/SIGTERM. Prints the URLs and then `calbridge local stack ready`. SQS event sources
        (the team sync's jobs) are delivered to their functions by a background poller, as in AWS.

    python -m local invoke <FunctionLogicalId> [-e events/x.json]
        Invokes one handler in-process on a freshly started stack, like `sam local invoke`, and
        prints its JSON result on stdout (logs go to stderr). Exit code 1 on a function error.
        Besides the demo salon the stack holds what the saga step samples (events/booking_*.json)
        work on: local/fixtures/invoke_samples.json.

    python -m local provision [--company salon-demo] [--service 177] [--check]
        Starts the stack with the demo tables (its segment event types NOT provisioned by the seed),
        runs EventTypeProvisionerFunction for the company (or one service), prints the report on
        stdout and a one-line summary on stderr. `--check` only reports drift, writing nothing to
        Cal.com. With `--no-standin` this provisions the real Cal.com team of CALCOM_BASE_URL.
        Exit code 1 when a segment failed or the company cannot be provisioned.

    python -m local sync [--company salon-demo]
        Starts the stack with the demo seed and runs one company's team sync as an on-demand
        invocation of TeamSyncWorkerFunction (`{"company_id": ...}`: lease, sync, stored run report),
        prints the report on stdout and a one-line summary on stderr. Exit code 1 unless the run
        is `ok`. With `--no-standin` this syncs the real Cal.com team of CALCOM_BASE_URL.

Without `--no-standin`, the Cal.com stand-in serves local/fixtures/salon_demo.json. With
`--no-standin` (or `CALCOM_BASE_URL` set) the same code talks to that Cal.com instead, using
`CALCOM_API_KEY`.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.stack import DEFAULT_FIXTURE, PROJECT_ROOT, FunctionError, LocalStack, LocalStackError

LOG = logging.getLogger("local")


def _seed_callback(enabled: bool) -> Callable[[LocalStack], None] | None:
    if not enabled:
        return None
    try:
        from local.seed import seed_demo
    except ImportError as exc:
        LOG.info("no seed: local.seed.seed_demo is not importable (%s)", exc)
        return None
    return seed_demo


def _console_seed(enabled: bool) -> Callable[[LocalStack], None] | None:
    """`make serve`: the demo salon, the console's users and a first team sync (local/seed.py)."""
    if not enabled:
        return None
    from local.seed import seed_console

    return seed_console


def _invoke_seed(enabled: bool) -> Callable[[LocalStack], None] | None:
    """The demo salon and the saga step samples' appointment and attempt (local/seed.py)."""
    if not enabled:
        return None
    from local.seed import seed_invoke_samples

    return seed_invoke_samples


def _tables_only_seed(enabled: bool) -> Callable[[LocalStack], None] | None:
    """The demo tables without the seed's own provisioning: `provision` shows what it does itself."""
    if not enabled:
        return None
    from local.seed import load_fixture, seed_fixture

    return lambda stack: seed_fixture(load_fixture())


def _parameter_overrides(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--parameter-overrides: expected Key=Value, got {item!r}")
        out[key] = value
    return out


def _build_stack(
    args: argparse.Namespace,
    http_port: int,
    seed: Callable[[LocalStack], None] | None = None,
    poll_queues: bool = False,
) -> LocalStack:
    standin = None if args.no_standin else DEFAULT_FIXTURE
    if args.no_standin and not os.environ.get("CALCOM_API_KEY"):
        LOG.warning("--no-standin without CALCOM_API_KEY: Cal.com calls will not authenticate")
    return LocalStack(
        args.template,
        http_port=http_port,
        moto_port=args.moto_port,
        region=args.region,
        standin_fixture=standin,
        seed=seed if seed is not None else _seed_callback(not args.no_seed),
        parameter_overrides=_parameter_overrides(args.parameter_overrides),
        poll_queues=poll_queues,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Queued jobs run as in AWS; the seed adds the console's users and a first team sync.
    stack = _build_stack(args, args.port, seed=_console_seed(not args.no_seed), poll_queues=True)
    try:
        stack.start()
    except (LocalStackError, OSError) as exc:
        print(f"calbridge local stack failed to start: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"HTTP front: {stack.http_url}")
        if "ConsoleFunction" in stack.functions:
            _print_console(stack.http_url, seeded=not args.no_seed)
        if stack.calcom_url:
            label = "Cal.com stand-in" if stack.standin is not None else "Cal.com"
            print(f"{label}: {stack.calcom_url}")
        print(f"moto: {stack.moto_url}")
        print("calbridge local stack ready", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        stack.stop()
    return 0


def _print_console(http_url: str, *, seeded: bool) -> None:
    """The console's URL and who can sign in (the seed's users, local/seed.py)."""
    from local.seed import CONSOLE_PASSWORD, CONSOLE_USERS

    print(f"console: {http_url}/console" + ("" if seeded else " (no users: started with --no-seed)"))
    for email, user in CONSOLE_USERS.items() if seeded else ():
        who = f"admin of {user['company_id']}" if user["company_id"] else "operator, every company"
        print(f"  sign in as {email} / {CONSOLE_PASSWORD} ({who})")


def cmd_invoke(args: argparse.Namespace) -> int:
    if args.event == "-":
        event = json.load(sys.stdin)
    elif args.event:
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    else:
        event = {}
    if isinstance(event, dict) and "x-retell-signature" in (event.get("headers") or {}):
        from local.events import resign  # Retell signatures expire after 5 minutes: sign anew

        event = resign(event)
    if isinstance(event, dict) and event.get("routeKey") == "POST /api/companies/{company_id}/bookings":
        from local.events import redate_web_booking  # its fixed day passes: the upcoming Monday instead

        event = redate_web_booking(event)
    if isinstance(event, dict) and "x-cal-signature-256" in (event.get("headers") or {}):
        from local.calcom_events import resign as resign_calcom  # with this machine's local secret

        event = resign_calcom(event)
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # handler logs (Powertools writes to stdout) go to stderr, like sam
    try:
        with _build_stack(args, 0, seed=_invoke_seed(not args.no_seed)) as stack:
            try:
                result = stack.invoke(args.function, event)
            except KeyError as exc:
                print(exc.args[0], file=sys.stderr)
                return 2
    except LocalStackError as exc:
        print(f"calbridge local stack failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = real_stdout
    payload = result.json()
    print(json.dumps(payload, indent=2, ensure_ascii=False))
    return 1 if result.function_error else 0


def cmd_provision(args: argparse.Namespace) -> int:
    event: dict[str, Any] = {"company_id": args.company, "repair": not args.check}
    if args.service:
        event["service_id"] = args.service
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # handler logs go to stderr, the report to stdout
    try:
        with _build_stack(args, 0, seed=_tables_only_seed(not args.no_seed)) as stack:
            result = stack.invoke("EventTypeProvisionerFunction", event)
    except LocalStackError as exc:
        print(f"calbridge local stack failed to start: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = real_stdout
    report = result.json()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if result.function_error:
        return 1
    print(f"segment event types: {report['summary']}", file=sys.stderr)
    for warning in report["warnings"]:
        print(f"  warning: {warning}", file=sys.stderr)
    return 0 if report["ok"] else 1


def cmd_sync(args: argparse.Namespace) -> int:
    try:
        report, failed = run_team_sync(args)
    except LocalStackError as exc:
        print(f"calbridge local stack failed to start: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if failed:
        return 1
    if report.get("status") == "rejected":
        print(f"team sync rejected: {report['reason']}", file=sys.stderr)
        return 1
    counters = ", ".join(f"{k} {v}" for k, v in report.items() if isinstance(v, int) and v)
    print(
        f"team sync of {report['company_id']}: {report['status']} ({counters or 'no changes'})",
        file=sys.stderr,
    )
    for item in report["skipped"]:
        print(f"  skipped {item['kind']} {item['ref']}: {item['reason']}", file=sys.stderr)
    for error in report["errors"]:
        print(f"  error: {error}", file=sys.stderr)
    return 0 if report["status"] == "ok" else 1


def run_team_sync(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """`make sync`: the on-demand sync of one company on a fresh local stack; (answer, function failed)."""
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # handler logs go to stderr, the report to stdout
    try:
        with _build_stack(args, 0) as stack:
            result = stack.invoke("TeamSyncWorkerFunction", {"company_id": args.company})
    finally:
        sys.stdout = real_stdout
    if result.function_error:
        detail = result.json() or {}
        print(
            f"TeamSyncWorkerFunction failed: {detail.get('errorType')}: {detail.get('errorMessage')}",
            file=sys.stderr,
        )
    return result.json() or {}, bool(result.function_error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--template", default=str(PROJECT_ROOT / "template.yaml"))
        p.add_argument("--no-standin", action="store_true", help="talk to CALCOM_BASE_URL / real Cal.com")
        p.add_argument("--no-seed", action="store_true", help="start with empty tables")
        p.add_argument("--moto-port", type=int, default=0, help="0 = a free port")
        p.add_argument("--region", default="eu-central-1")
        p.add_argument(
            "--parameter-overrides", nargs="*", default=[], metavar="Key=Value", help="template parameters"
        )
        p.add_argument("-v", "--verbose", action="store_true")

    serve = sub.add_parser("serve", help="run the local stack until interrupted")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    common(serve)
    serve.set_defaults(func=cmd_serve)

    invoke = sub.add_parser("invoke", help="invoke one function in-process, like `sam local invoke`")
    invoke.add_argument("function", help="logical id of an AWS::Serverless::Function")
    invoke.add_argument("-e", "--event", help="event JSON file ('-' = stdin); default {}")
    common(invoke)
    invoke.set_defaults(func=cmd_invoke)

    provision = sub.add_parser("provision", help="provision a company's segment event types in Cal.com")
    provision.add_argument("--company", default="salon-demo", help="company id (default salon-demo)")
    provision.add_argument("--service", help="only this service id")
    provision.add_argument("--check", action="store_true", help="report drift only, write nothing to Cal.com")
    common(provision)
    provision.set_defaults(func=cmd_provision)

    sync = sub.add_parser("sync", help="run one company's team sync (on demand) and print its report")
    sync.add_argument("--company", default="salon-demo", help="company id (default salon-demo)")
    common(sync)
    sync.set_defaults(func=cmd_sync)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except FunctionError as exc:  # pragma: no cover - defensive
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    # The servers are stopped; skip the interpreter's final garbage collection of moto's large
    # object graph (it takes seconds at exit), atexit handlers still run.
    gc.freeze()
    sys.exit(code)
