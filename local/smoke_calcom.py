"""`make smoke-calcom`: calbridge's Cal.com path against a REAL Cal.com team, step by step.

    CALCOM_API_KEY=cal_live_... CALCOM_TEAM_ID=12345 CALCOM_STAFF_USER_ID=67890 make smoke-calcom

It runs the production code on the local stack (moto, our real state machines), with Cal.com at
CALCOM_BASE_URL (default https://api.cal.com) instead of the stand-in:

1. a throwaway company with one staff member (CALCOM_STAFF_USER_ID) and a composite service under a
   unique id, so its booking event types get the slug prefix `cb-smoke<random>-`;
2. the provisioner creates them in the team (hidden, collective, the staff member their only host);
3. availability reads that staff member's slots and picks the first free start of the composite;
4. the booking saga books every segment for a test attendee (CALCOM_SMOKE_ATTENDEE_EMAIL);
5. each booking is read back: its host must be the staff member;
6. the cancel saga cancels them all, and each is read back as cancelled;
7. the event types it created are deleted; also after a failure, as far as Cal.com lets it.

Every step is printed. Cal.com sends its usual e-mails to the attendee and the staff member (see
docs/calcom-emails.md). Without the three variables it prints what it needs and exits 0 without
calling anything; CI never runs it. Exit code 1 when a step fails.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

REQUIRED = {
    "CALCOM_API_KEY": "an API key of a Cal.com user who is an admin of the team",
    "CALCOM_TEAM_ID": "the id of the Cal.com team to run in (a number)",
    "CALCOM_STAFF_USER_ID": "the Cal.com user id of a team member to book (a number)",
}
OPTIONAL = {
    "CALCOM_BASE_URL": "https://api.cal.com",
    "CALCOM_SMOKE_ATTENDEE_EMAIL": "calbridge-smoke@example.com",
    "CALCOM_SMOKE_TIMEZONE": "Europe/Berlin",
    "CALCOM_SMOKE_DAYS": "14",
}


class SmokeFailed(Exception):
    pass


def missing(env: Mapping[str, str]) -> list[str]:
    return [name for name in REQUIRED if not env.get(name)]


def explain(out: Callable[[str], None]) -> None:
    out("make smoke-calcom runs calbridge's Cal.com path against a real Cal.com team. It needs:")
    for name, what in REQUIRED.items():
        out(f"  {name:<28} {what}")
    out("and takes, optionally:")
    for name, default in OPTIONAL.items():
        out(f"  {name:<28} default {default}")
    out("Nothing was called. Example:")
    out("  CALCOM_API_KEY=cal_live_... CALCOM_TEAM_ID=12345 CALCOM_STAFF_USER_ID=67890 make smoke-calcom")


def run(env: Mapping[str, str], out: Callable[[str], None] = print) -> int:
    if missing(env):
        explain(out)
        return 0
    from local.stack import LocalStack

    settings = {**OPTIONAL, **{k: v for k, v in env.items() if k in OPTIONAL and v}}
    try:
        team_id, user_id = int(env["CALCOM_TEAM_ID"]), int(env["CALCOM_STAFF_USER_ID"])
        days = int(settings["CALCOM_SMOKE_DAYS"])
    except ValueError:
        out("CALCOM_TEAM_ID, CALCOM_STAFF_USER_ID and CALCOM_SMOKE_DAYS must be numbers")
        return 1
    stack = LocalStack(
        http_port=0,
        calcom_base_url=settings["CALCOM_BASE_URL"],
        env={"CALCOM_API_KEY": env["CALCOM_API_KEY"]},
    )
    with stack:
        smoke = Smoke(team_id, user_id, settings, out)
        try:
            smoke.run(days)
        except SmokeFailed as exc:
            out(f"FAILED: {exc}")
            return 1
        finally:
            smoke.clean_up()
    out("Smoke test passed: Cal.com booked, hosted, cancelled and cleaned up as calbridge expects.")
    return 0


class Smoke:
    """The steps, on the running local stack (the production modules, configured by it)."""

    def __init__(self, team_id: int, user_id: int, settings: Mapping[str, str], out: Callable[[str], None]):
        from calbridge.services import wiring

        self.wiring = wiring
        self.out = out
        self.team_id, self.user_id = team_id, user_id
        self.settings = settings
        suffix = secrets.token_hex(3)
        self.company_id = f"smoke-{suffix}"
        self.service_id = f"smoke{suffix}"
        self.event_type_ids: list[int] = []
        self.uids: list[str] = []
        self.appointment_id: str | None = None

    def step(self, text: str) -> None:
        self.out(f"\n== {text}")

    def check(self, ok: bool, text: str) -> None:
        self.out(f"  {'ok  ' if ok else 'FAIL'} {text}")
        if not ok:
            raise SmokeFailed(text)

    def run(self, days: int) -> None:
        self.setup()
        self.provision()
        start = self.first_free_start(days)
        self.book(start)
        self.check_hosts()
        self.cancel()

    # -- steps ---------------------------------------------------------------------------------

    def setup(self) -> None:
        from calbridge.adapters.store.repositories import (
            CompanyRepository,
            ServiceRepository,
            StaffRepository,
        )
        from calbridge.domain.models import Branch, Company, Service, StaffMember

        self.step(f"1. A throwaway company {self.company_id} in Cal.com team {self.team_id}")
        zone = self.settings["CALCOM_SMOKE_TIMEZONE"]
        CompanyRepository().save(
            Company(
                company_id=self.company_id,
                name="calbridge smoke test",
                timezone=zone,
                calcom_team_id=self.team_id,
                branches=[Branch(branch_id="main", name="smoke")],
            )
        )
        StaffRepository().save(
            StaffMember(
                company_id=self.company_id, staff_id="staff", name="Smoke Staff", calcom_user_id=self.user_id
            )
        )
        self.service = Service.model_validate(
            {
                "company_id": self.company_id,
                "service_id": self.service_id,
                "name": "calbridge smoke test",
                "duration": 50,
                "composite": True,
                "pause_policy": "free",
                "segments": [
                    {"key": "A", "name": "first", "duration": 15, "gap_after": 10},
                    {"key": "B", "name": "second", "duration": 15, "gap_after": 0},
                    {"key": "C", "name": "third", "duration": 10, "gap_after": 0},
                ],
                "staff_ids": ["staff"],
            }
        )
        ServiceRepository().save(self.service)
        self.out(
            f"  service {self.service_id}: 15 min, 10 min pause, 15 min, 10 min; "
            f"staff = Cal.com user {self.user_id}"
        )

    def provision(self) -> None:
        self.step("2. Provision its booking event types in the team")
        report = self.wiring.event_type_provisioner().provision(self.company_id)
        for result in report.created + report.unchanged:
            if result.event_type_id:
                self.event_type_ids.append(result.event_type_id)
            self.out(f"  {result.slug}: event type {result.event_type_id} ({result.detail})")
        for warning in report.warnings:
            self.out(f"  warning: {warning}")
        self.check(report.ok and len(self.event_type_ids) == 3, f"3 event types ({report.summary()})")
        found = {et.id: et for et in self.wiring.calcom_client().list_team_event_types(self.team_id)}
        for event_type_id in self.event_type_ids:
            et = found.get(event_type_id)
            self.check(
                et is not None and [h.user_id for h in et.hosts] == [self.user_id] and et.hidden,
                f"event type {event_type_id}: hidden, the staff member its only host",
            )

    def first_free_start(self, days: int) -> datetime:
        self.step(f"3. The staff member's slots over the next {days} days")
        from calbridge.adapters.store.repositories import CompanyRepository

        company = CompanyRepository().get(self.company_id)
        today = datetime.now(company.zone).date()
        starts = self.wiring.availability().free_starts(
            company, self.service, [today + timedelta(days=n) for n in range(days)]
        )
        self.check(bool(starts), f"{len(starts)} free start(s) for every segment")
        start = starts[0].start
        self.out(f"  booking the first: {start.astimezone(company.zone).isoformat()}")
        return start

    def book(self, start: datetime) -> None:
        self.step("4. Book every segment through the booking saga")
        from calbridge.services.booking import run_booking

        self.appointment_id = f"bk_{uuid.uuid4().hex}"
        outcome = run_booking(
            {
                "company_id": self.company_id,
                "booking_id": self.appointment_id,
                "service_id": self.service_id,
                "start": start.isoformat(),
                "staff_id": "staff",
                "customer": {
                    "name": "calbridge smoke test",
                    "email": self.settings["CALCOM_SMOKE_ATTENDEE_EMAIL"],
                },
            }
        )
        self.check(outcome.booked, f"booked ({outcome.error or 'ok'}: {outcome.message or ''})")
        assert outcome.appointment is not None
        self.uids = list(outcome.appointment.calcom_booking_uids.values())
        for segment in outcome.appointment.segments:
            self.out(
                f"  {segment.key}: {segment.start.isoformat()} - {segment.end.isoformat()}  "
                f"{segment.calcom_booking_uid}"
            )

    def check_hosts(self) -> None:
        self.step("5. Every booking's host is the staff member")
        client = self.wiring.calcom_client()
        for uid in self.uids:
            booking = client.get_booking(uid)
            host = booking.organizer.id if booking.organizer else None
            self.check(
                host == self.user_id and booking.status == "accepted", f"{uid}: host {host}, {booking.status}"
            )

    def cancel(self) -> None:
        self.step("6. Cancel the appointment through the cancel saga")
        from calbridge.services.appointment_changes import run_cancel

        outcome = run_cancel(
            {
                "company_id": self.company_id,
                "appointment_id": self.appointment_id,
                "reason": "calbridge smoke test",
            }
        )
        self.check(outcome.status == "cancelled", f"cancelled ({outcome.error or 'ok'})")
        client = self.wiring.calcom_client()
        for uid in self.uids:
            status = client.get_booking(uid).status
            self.check(status == "cancelled", f"{uid}: {status}")
        self.uids = []

    def clean_up(self) -> None:
        self.step("7. Clean up")
        client = self.wiring.calcom_client()
        for uid in self.uids:  # a failed step may have left bookings
            try:
                client.cancel_booking(uid, "calbridge smoke test: cleaning up")
                self.out(f"  cancelled booking {uid}")
            except Exception as exc:  # report and go on: the rest still has to go
                self.out(f"  could not cancel booking {uid}: {exc}")
        for event_type_id in self.event_type_ids:
            try:
                client.delete_team_event_type(self.team_id, event_type_id)
                self.out(f"  deleted event type {event_type_id}")
            except Exception as exc:
                self.out(f"  could not delete event type {event_type_id}: {exc}")


LOG_FILE = Path(tempfile.gettempdir()) / "calbridge-smoke-calcom.log"


def main() -> int:
    """The steps on stdout; the functions' JSON logs go to LOG_FILE."""
    out = sys.stdout
    started = datetime.now(UTC)

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    if missing(os.environ):
        return run(os.environ, say)
    with LOG_FILE.open("w", encoding="utf-8") as log:
        sys.stdout = log
        try:
            code = run(os.environ, say)
        finally:
            sys.stdout = out
    say(f"({(datetime.now(UTC) - started).total_seconds():.1f} s; function logs: {LOG_FILE})")
    return code


if __name__ == "__main__":
    sys.exit(main())
