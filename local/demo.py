"""`make demo`: a scripted phone call against the local stack, printed readably.

Starts the whole stack (moto, our handlers, the Cal.com stand-in, the HTTP front), runs the
nightly team sync, then plays Retell's part of a call to Salon Demo: the inbound webhook routes
the call, call_started is recorded, the agent asks for service information, checks and books a
composite appointment (the booking saga), moves it to the next day (the reschedule saga), and the
call ends with call_ended / call_analyzed (out of order, redelivered). Every request is signed
and goes over HTTP like Retell's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from calbridge.adapters.retell.signature import sign
from local.retell_sim import RetellSimulator, compact
from local.seed import DEMO_FIXTURE, load_fixture, seed_demo
from local.stack import LocalStack

ADMIN = "arn:aws:iam::123456789012:user/salon-admin"
BERLIN = ZoneInfo("Europe/Berlin")
CALLER = "+4915112345678"
SALON = "+4930123456789"


# The handlers log JSON to stdout as in Lambda; the demo sends that to a file and prints the story.
OUT = sys.stdout
LOG_FILE = Path(tempfile.gettempdir()) / "calbridge-demo.log"


def show(text: str = "") -> None:
    print(text, file=OUT, flush=True)


def say(who: str, text: str) -> None:
    show(textwrap.fill(text, width=96, initial_indent=f"  {who:<7} ", subsequent_indent=" " * 10))


def step(title: str) -> None:
    show(f"\n── {title} " + "─" * max(0, 90 - len(title)))


def check(response: Any, expected_status: int) -> dict[str, Any]:
    if response.status_code != expected_status:
        show(f"unexpected answer {response.status_code}: {response.text} (function logs: {LOG_FILE})")
        raise SystemExit(1)
    return response.json() if response.content else {}


def nightly_team_sync(stack: LocalStack) -> None:
    """The 00:30 UTC schedule, fired now: one job per company with a team, the worker runs them."""
    step("0. Nightly team sync: the schedule fans out one job per company, the worker syncs each")
    fan_out = stack.fire_schedule("TeamSyncSchedule")
    skipped = fan_out["skipped"] or "none"
    show(f"  jobs enqueued for {', '.join(fan_out['enqueued']) or 'nobody'}; skipped: {skipped}")
    stack.drain_queue("TeamSyncQueue")
    with httpx.Client(base_url=stack.http_url, headers={"x-calbridge-local-identity": ADMIN}) as admin:
        for company in fan_out["enqueued"]:
            runs = check(admin.get(f"/admin/companies/{company}/sync-runs", params={"limit": 1}), 200)["runs"]
            report = runs[0]["report"]
            counters = ", ".join(f"{k} {v}" for k, v in report.items() if isinstance(v, int) and v)
            show(f"  {company}: {report['status']} ({counters or 'no changes'})")
            for item in report["skipped"]:
                show(f"    skipped {item['kind']} {item['ref']}: {item['reason']}")
            for error in report["errors"]:
                show(f"    error: {error}")


def run_call(stack: LocalStack) -> None:
    nightly_team_sync(stack)
    fixture = load_fixture()
    retell = RetellSimulator(stack.http_url)

    step(f"1. Incoming call {CALLER} → {SALON}: Retell asks POST /retell/inbound")
    answer = check(retell.inbound(CALLER, SALON), 200)["call_inbound"]
    metadata, variables = answer["metadata"], answer["dynamic_variables"]
    show(f"  routed to company {metadata['company_id']!r}, branch {metadata['branch_id']!r}")
    for key, value in variables.items():
        show(f"    {{{{{key}}}}} = {value}")
    call = {
        "call_id": f"call_demo_{uuid.uuid4().hex[:12]}",
        "call_type": "phone_call",
        "direction": "inbound",
        "call_status": "ongoing",
        "start_timestamp": int(time.time() * 1000),
        "from_number": CALLER,
        "to_number": SALON,
        "metadata": metadata,
        "retell_llm_dynamic_variables": variables,
    }
    lifecycle(retell, "call_started", call)
    say("Agent", f"{variables['company_name']}, guten Tag! Wie kann ich helfen?")

    step("2. Caller asks what the salon offers: get_service_info {}")
    say("Caller", "Was bieten Sie denn an?")
    say("Agent", check(retell.tool("get_service_info", {}, call), 200)["message"])

    step("3. Caller asks about a composite service: get_service_info {service: 'Ansatzfärbung'}")
    say("Caller", "Wie lange dauert eine Ansatzfärbung?")
    result = check(retell.tool("get_service_info", {"service": "Ansatzfärbung"}, call), 200)
    say("Agent", result["message"])
    for segment in result["data"]["service"]["segments"]:
        gap = f", then {segment['gap_after']} min waiting" if segment["gap_after"] else ""
        show(f"    segment {segment['key']}: {segment['name']} {segment['duration']} min{gap}")

    step("4. A tenant smuggled into args is ignored: get_service_info {company_id: 'other'}")
    result = check(
        retell.tool("get_service_info", {"service": "Damenhaarschnitt", "company_id": "other"}, call), 200
    )
    say("Agent", result["message"])

    booked = book_composite(stack, retell, call)
    reschedule(stack, retell, call, booked)
    end_call(retell, call)

    step("7. A call to a number no salon claims: Retell keeps the number's default agent")
    show(f"  HTTP 200: {check(retell.inbound(CALLER, '+4940999999'), 200)}")

    step("8. A forged request (signed with another key) is refused before anything runs")
    body = {"event": "call_inbound", "call_inbound": {"from_number": CALLER, "to_number": SALON}}
    forged_signature = sign(compact(body), "not-the-retell-key", int(time.time() * 1000))
    forged = retell.post("/retell/inbound", body, signature=forged_signature)
    show(f"  HTTP {forged.status_code}: {forged.json()['message']}")

    step("9. The Cal.com stand-in serves the salon's team")
    from calbridge.adapters.calcom import CalcomClient
    from calbridge.config import CalcomApiVersions

    team = fixture["company"]["calcom_team_id"]
    with CalcomClient(
        base_url=stack.calcom_url,
        api_key_provider=lambda: fixture["calcom"]["api_key"],
        versions=CalcomApiVersions(),
    ) as calcom:
        members = calcom.list_team_memberships(team)
        event_types = calcom.list_team_event_types(team)
        show(f"  {stack.calcom_url}: team {team} with {len(members)} members, {len(event_types)} event types")
        for member in members:
            show(f"    {member.user_id:>8}  {member.user.name:<16} {member.user.email}")
        meet_hosts(stack, calcom, members)
    second_salon(stack, retell)
    retell.close()

    step("14. Function logs are JSON; phone numbers and e-mails are masked")
    unrouted = next(line for line in LOG_FILE.read_text().splitlines() if "unrouted number" in line)
    show(f"  {unrouted}")
    show(f"\nDemo call finished: routed, answered and verified through the HTTP front. Logs: {LOG_FILE}")


def book_composite(stack: LocalStack, retell: RetellSimulator, call: dict[str, Any]) -> dict[str, Any]:
    tomorrow = (datetime.now(BERLIN) + timedelta(days=1)).date().isoformat()
    ask = {"service": "Ansatzfärbung", "date": tomorrow, "time": "14:00", "mitarbeiter": "Fabian"}
    step(f"5. check_availability {ask}")
    say("Caller", "Geht morgen um 14 Uhr eine Ansatzfärbung bei Fabian?")
    result = check(retell.tool("check_availability", ask, call), 200)
    say("Agent", result["message"])
    if not result["data"]["available"]:  # e.g. tomorrow is Sunday: take the first alternative
        first = result["data"]["alternatives"][0]
        moment = datetime.fromisoformat(first["start"])
        ask = {**ask, "date": moment.date().isoformat(), "time": moment.strftime("%H:%M")}
        say("Caller", "Dann nehme ich den ersten Termin.")

    step(f"6. book_appointment {ask['date']} {ask['time']}: the booking saga runs (StartSyncExecution)")
    booking = {**ask, "customer_name": "Anna Schmidt", "customer_email": "anna.schmidt@example.com"}
    result = check(retell.tool("book_appointment", booking, call), 200)
    say("Agent", result["message"])
    if not result["success"]:
        raise SystemExit("the demo booking failed")
    data = result["data"]
    show(f"  appointment {data['appointment_id']}, code {data['confirmation_code']}, {data['staff_name']}")
    dynamodb = stack.boto3_client("dynamodb")
    items = dynamodb.query(
        TableName=stack.resources["AppointmentsTable"],
        KeyConditionExpression="company_id = :c AND begins_with(appointment_id, :a)",
        ExpressionAttributeValues={":c": {"S": "salon-demo"}, ":a": {"S": data["appointment_id"] + "#"}},
    )["Items"]
    for item in sorted(items, key=lambda i: i.get("starts_at", {}).get("S", "")):
        if item.get("kind", {}).get("S") != "segment":
            continue
        start = datetime.fromisoformat(item["starts_at"]["S"].replace("+0000", "+00:00")).astimezone(BERLIN)
        end = datetime.fromisoformat(item["ends_at"]["S"].replace("+0000", "+00:00")).astimezone(BERLIN)
        key, staff = item.get("segment_key", {}).get("S", "?"), item.get("staff_id", {}).get("S", "—")
        host = item.get("calcom_host_id", {}).get("N", "—")
        show(f"    segment {key}: {start:%H:%M}–{end:%H:%M} staff {staff} (Cal.com host {host})")
    transitions = [
        event[detail]["name"]
        for event in stack.last_express_history("BookingStateMachine")
        for detail in ("stateEnteredEventDetails",)
        if detail in event
    ]
    show(f"  state transitions: {' → '.join(transitions)}")
    cal_bookings = httpx.get(f"{stack.calcom_url}/_standin/bookings").json()
    cal_bookings = cal_bookings.get("data", cal_bookings) if isinstance(cal_bookings, dict) else cal_bookings
    ours = [
        b
        for b in cal_bookings
        if (b.get("metadata") or {}).get("calbridge_booking_id") == data["appointment_id"]
    ]
    show(f"  Cal.com holds {len(ours)} bookings for it, one per segment event type:")
    for booking in sorted(ours, key=lambda b: b["start"]):
        show(f"    {booking['start'][11:16]}Z  {booking['title']}")
    stack.drain_queue("NotificationsQueue")  # the confirmation job Finalize queued
    for mail in stack.sent_mail():  # SES as moto captured it: one message, every segment in its ICS
        (ics,) = list(mail.iter_attachments())
        segments = ics.get_content().count("BEGIN:VEVENT")
        show(f"  confirmation to {mail['To']}: {mail['Subject']!r}")
        show(f"    with {ics.get_filename()}: {segments} segments in one calendar file")
    return data


def calcom_uids(stack: LocalStack, appointment_id: str) -> set[str]:
    """The Cal.com bookings (one per segment) the appointment holds now."""
    item = stack.boto3_client("dynamodb").get_item(
        TableName=stack.resources["AppointmentsTable"],
        Key={"company_id": {"S": "salon-demo"}, "appointment_id": {"S": appointment_id}},
        ConsistentRead=True,
    )["Item"]
    return {uid["S"] for uid in item["calcom_booking_uids"]["M"].values()}


def accepted_calcom_uids(stack: LocalStack) -> set[str]:
    bookings = httpx.get(f"{stack.calcom_url}/_standin/bookings").json()
    bookings = bookings.get("data", bookings) if isinstance(bookings, dict) else bookings
    return {b["uid"] for b in bookings if b["status"] == "accepted"}


def reschedule(
    stack: LocalStack, retell: RetellSimulator, call: dict[str, Any], booked: dict[str, Any]
) -> None:
    """The caller moves the appointment a day later, as they say it; the reschedule saga books the
    new segments before it cancels the old ones."""
    start = datetime.fromisoformat(booked["start"])
    before = calcom_uids(stack, booked["appointment_id"])
    new_day = start.date() + timedelta(days=1)
    ask = {"date": start.date().isoformat(), "new_date": f"am {new_day:%d.%m.}", "new_time": "halb elf"}
    step(f"6b. reschedule_appointment {ask}: found by the caller's number, moved by a saga")
    say("Caller", f"Ach, können wir das auf den {new_day:%d.%m.} um halb elf verschieben?")
    result = check(retell.tool("reschedule_appointment", ask, call), 200)
    say("Agent", result["message"])
    if not result["success"] and result["data"].get("alternatives"):  # e.g. closed that day
        first = datetime.fromisoformat(result["data"]["alternatives"][0]["start"])
        ask = {**ask, "new_date": first.date().isoformat(), "new_time": first.strftime("%H:%M")}
        say("Caller", "Dann den ersten, den Sie haben.")
        result = check(retell.tool("reschedule_appointment", ask, call), 200)
        say("Agent", result["message"])
    if not result["success"]:
        raise SystemExit("the demo reschedule failed")
    after, accepted = calcom_uids(stack, booked["appointment_id"]), accepted_calcom_uids(stack)
    transitions = [
        event["stateEnteredEventDetails"]["name"]
        for event in stack.last_express_history("RescheduleStateMachine")
        if "stateEnteredEventDetails" in event
    ]
    show(f"  same appointment {result['data']['appointment_id']}, code {result['data']['confirmation_code']}")
    show(
        f"  Cal.com: {len(after & accepted)} new bookings active, "
        f"{len(before - accepted)} of the {len(before)} old ones cancelled"
    )
    show(f"  state transitions: {' → '.join(transitions)}")


def lifecycle(retell: RetellSimulator, event: str, call: dict[str, Any], **facts: Any) -> int:
    """One of Retell's call lifecycle webhooks for the demo call (POST /retell/events)."""
    return retell.post("/retell/events", {"event": event, "call": {**call, **facts}}).status_code


def end_call(retell: RetellSimulator, call: dict[str, Any]) -> None:
    step("6c. The caller hangs up: call_ended and call_analyzed reach POST /retell/events")
    say("Agent", "Vielen Dank für Ihren Anruf, bis bald!")
    ended = {
        "call_status": "ended",
        "end_timestamp": int(time.time() * 1000),
        "disconnection_reason": "user_hangup",
    }
    analysis = {
        "call_summary": "Die Anruferin hat eine Ansatzfärbung gebucht und auf den Folgetag verschoben.",
        "user_sentiment": "Positive",
        "call_successful": True,
        "in_voicemail": False,
    }
    # call_analyzed first and call_ended twice: Retell's order and redeliveries do not matter.
    statuses = [
        lifecycle(retell, "call_analyzed", call, **ended, call_analysis=analysis),
        lifecycle(retell, "call_ended", call, **ended),
        lifecycle(retell, "call_ended", call, **ended),
    ]
    show(f"  call_analyzed, call_ended, call_ended again → HTTP {', '.join(map(str, statuses))}")
    from calbridge.adapters.store.calls import CallRepository

    record = CallRepository().get(call["metadata"]["company_id"], call["call_id"])
    if record is None:
        raise SystemExit("the call was not recorded")
    show(f"  call record {record.call_id}: {record.status}, {record.disconnection_reason}")
    show(f"    sentiment {record.user_sentiment}, successful {record.call_successful}: {record.summary}")
    show(f"    events seen: {', '.join(e.value for e in record.events)}")
    for noted in record.appointments:
        show(f"    {noted.action.value:<11} {noted.appointment_id}")


def booked_on_the_salons_page(stack: LocalStack, calcom: Any, member: Any, event_type_id: int) -> Any:
    """A booking a customer made on the salon's own Cal.com page that round robin gave `member`:
    put into the stand-in through its control API (a web booking, not one calbridge makes), then
    read back through the Cal.com API as calbridge would read it."""
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    seeded = httpx.post(
        f"{stack.calcom_url}/_standin/bookings",
        json={
            "start": start.isoformat(),
            "event_type_id": event_type_id,
            "host_user_id": member.user_id,
            "attendee": {"name": "Anna Schmidt", "email": "anna@example.com", "timeZone": "Europe/Berlin"},
        },
    )
    seeded.raise_for_status()
    return calcom.get_booking(seeded.json()["uid"])


def meet_hosts(stack: LocalStack, calcom: Any, members: list[Any]) -> None:
    step("10. Bookings made on the salon's own Cal.com page meet its hosts; host resolution links them")
    lambda_client = stack.boto3_client("lambda")
    admin = httpx.Client(base_url=stack.http_url, headers={"x-calbridge-local-identity": ADMIN})
    kinder_haarschnitt, damen_haarschnitt = 3719002, 3719001
    for member in members:
        event_type = kinder_haarschnitt if member.user.name.startswith("Sara") else damen_haarschnitt
        booking = booked_on_the_salons_page(stack, calcom, member, event_type)
        invocation = lambda_client.invoke(
            FunctionName="HostResolutionFunction",
            Payload=json.dumps(
                {"company_id": "salon-demo", "booking": booking.model_dump(mode="json", by_alias=True)}
            ),
        )
        result = json.loads(invocation["Payload"].read())
        staff = result["staff_id"] or "—"
        show(
            f"  host {booking.organizer.id} {booking.organizer.name:<15} → {staff:<15} "
            f"{result['outcome']:<9} {result['strategy']:<12} confidence {result['confidence']}"
        )
        show(textwrap.fill(result["reason"], width=96, initial_indent=" " * 10, subsequent_indent=" " * 10))

    company = "/admin/companies/salon-demo"
    reviews = check(admin.get(f"{company}/review-candidates"), 200)["review_candidates"]
    show(f"\n  Review queue: {len(reviews)} host(s) wait for an admin")
    for review in reviews:
        host, best = review["host"], review["candidates"][0]
        show(
            f"    host {host['id']} {host['name']}: best candidate {best['staff_id']} ({best['confidence']})"
        )

    step("11. An admin confirms Lena's link; the audit trail records who did what")
    lena = next(m for m in members if m.user.name.startswith("Lena"))
    linked = check(
        admin.post(
            f"{company}/host-mappings",
            json={
                "host_id": lena.user_id,
                "staff_id": "lena-mueller",
                "reason": "Lena Muller is Lena Müller",
            },
        ),
        201,
    )
    created = linked["event_types"]["created"]
    show(
        f"  Lena is bookable now: {len(created)} event types of her own created "
        f"({', '.join(sorted({r['service_id'] for r in created}))})"
    )
    again = lambda_client.invoke(
        FunctionName="HostResolutionFunction",
        Payload=json.dumps(
            {"company_id": "salon-demo", "host": {"id": lena.user_id, "name": lena.user.name}}
        ),
    )
    result = json.loads(again["Payload"].read())
    show(f"  host {lena.user_id} now → {result['staff_id']} ({result['outcome']}, {result['reason']})")
    for host_id in (members[0].user_id, lena.user_id):
        show(f"  audit trail of host {host_id}:")
        for record in check(admin.get(f"{company}/host-mappings/{host_id}/audit"), 200)["audit"]:
            show(
                f"    {record['changed_at'][:19]}  {record['action']:<15} by {record['changed_by']}: "
                f"{record['reason']}"
            )
    admin.close()


def second_salon(stack: LocalStack, retell: RetellSimulator) -> None:
    """Riverside Hair (local/second_salon.py): onboarded over the admin API with its own Cal.com
    account, then an English call to it, next to the German salon's."""
    from local import second_salon as riverside

    step("12. A second salon: Riverside Hair, London, English, with a Cal.com account of its own")
    before = riverside.last_calcom_request(stack.calcom_url)
    team = riverside.sign_up_at_calcom(stack.calcom_url)
    show(f"  in Cal.com (the salon's own doing): team {team['id']} {team['name']!r}, 3 members, an API key")
    with httpx.Client(base_url=stack.http_url, headers={"x-calbridge-local-identity": ADMIN}) as admin:
        steps = riverside.onboard(stack, admin)
    company = steps["company"]["company"]
    show(f"  PUT {riverside.ADMIN_PATH}: {company['name']}, {company['language']}, {company['timezone']}")
    credential = steps["credential"]
    show(f"  PUT …/calcom-credential: {credential['calcom_credential']} key {credential['action']}")
    show(f"  POST …/staff: {steps['staff']['created']} staff members")
    show(f"  PATCH calcom_team_id {riverside.TEAM_ID}: team sync {steps['team']['team_sync']['status']}")
    report = steps["sync"]
    counters = ", ".join(f"{k} {v}" for k, v in report.items() if isinstance(v, int) and v)
    show(f"  team sync with the salon's key: {report['status']} ({counters})")
    for staff_id, user_id in sorted(steps["linked"].items()):
        show(f"    {staff_id:<11} → Cal.com user {user_id}")
    event_types = steps["service"]["service"]["event_types"]
    show(f"  PUT …/services/{riverside.SERVICE_ID}: {len(event_types)} booking event types in its team")
    show(f"  its team's Cal.com webhook → {steps['webhook']['url']}")

    step("13. An English call to Riverside Hair, next to the German one")
    said = riverside.english_call(stack, retell)
    routed = said["routed"]
    show(f"  {riverside.CALLER} → {riverside.NUMBER}: routed to {routed['metadata']}")
    variables = routed["dynamic_variables"]
    show(f"    language {variables['language']}, today {variables['today_spoken']}")
    say("Agent", f"{variables['company_name']}, hello! How can I help?")
    say("Caller", "How long does a colour take?")
    say("Agent", said["service_info"]["message"])
    say("Caller", f"Could I come {said['asked']['date']} at {said['asked']['time']}?")
    say("Agent", said["availability"]["message"])
    say("Caller", "Lovely, please book it. James Wilson.")
    say("Agent", said["booking"]["message"])
    stack.drain_queue("NotificationsQueue")
    english = [m for m in stack.sent_mail() if "james.wilson" in str(m["To"])]
    for mail in english:
        show(f"  confirmation to {mail['To']}: {mail['Subject']!r}")
    ids = {e["event_type_id"] for e in event_types if e.get("event_type_id")}
    keys = riverside.calcom_keys_used(stack.calcom_url, before, ids)
    show(
        f"  Cal.com: {keys['salon_key']} requests with the salon's own key; "
        f"{keys['other_keys_on_the_salon']} with any other key touched its team"
    )


def main() -> int:
    with LOG_FILE.open("w", encoding="utf-8") as log:
        sys.stdout = log
        try:
            with LocalStack(standin_fixture=DEMO_FIXTURE, seed=seed_demo, http_port=0) as stack:
                show("calbridge local stack")
                show(f"  HTTP front:        {stack.http_url}")
                show(f"  Cal.com stand-in:  {stack.calcom_url}")
                run_call(stack)
        finally:
            sys.stdout = OUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
