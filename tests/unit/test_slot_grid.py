"""Which event type's slots answer for a hold (domain/slot_grid.py, docs/adr/0016): a staff
member's holds on the same grid are read from the shortest one's slots, never across grids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from calbridge.domain.event_types import (
    EventMapEntry,
    SyncStatus,
    hold_targets,
    index_event_map,
    segment_slug,
)
from calbridge.domain.models import Service
from calbridge.domain.slot_grid import SlotReader, slot_readers
from calbridge.errors import EventTypeMissing

FIXTURE = json.loads((Path(__file__).parents[2] / "local/fixtures/salon_demo.json").read_text())
DEMO = {
    s["service_id"]: Service.model_validate({"company_id": "salon-demo", **s}) for s in FIXTURE["services"]
}
FABIAN = 1420209
NOTICE = 120


def provisioned(service: Service, **changes: dict) -> dict[tuple[str, int], EventMapEntry]:
    """The event map as provisioning writes it for Fabian (event type ids 100, 101, ... in hold
    order), with `changes` per hold key."""
    entries = []
    for index, hold in enumerate(hold_targets(service)):
        fields = {
            "company_id": "salon-demo",
            "service_id": service.service_id,
            "segment_key": hold.key,
            "host_user_id": FABIAN,
            "event_type_id": 100 + index,
            "slug": segment_slug(service.service_id, hold.key, FABIAN),
            "title": hold.key,
            "length": hold.minutes,
            "minimum_notice": NOTICE,
            "slot_interval": hold.slot_interval,
            "sync_status": SyncStatus.SYNCED,
            "updated_at": datetime(2030, 1, 1, tzinfo=UTC),
        }
        entries.append(EventMapEntry(**{**fields, **changes.get(hold.key, {})}))
    return index_event_map(entries)


def test_a_composite_reads_its_first_hold_and_the_shortest_later_one():
    # 177: A 30 (Cal.com's grid of its own length), then B 15, C 30, D 30 on the 5-minute grid.
    readers = slot_readers(DEMO["177"], provisioned(DEMO["177"]), FABIAN)
    assert readers == {
        "A": SlotReader(event_type_id=100),
        "B": SlotReader(event_type_id=101),
        "C": SlotReader(event_type_id=101, offsets=(0, 5, 10, 15)),
        "D": SlotReader(event_type_id=101, offsets=(0, 5, 10, 15)),
    }


def test_a_blocked_service_reads_every_hold_from_its_shortest():
    # 42 (blocked): A 45, B 60, C 20 and the gaps gap-A 10, gap-B 15, all on the 5-minute grid.
    readers = slot_readers(DEMO["42"], provisioned(DEMO["42"]), FABIAN)
    gap_a = readers["gap-A"].event_type_id
    assert {r.event_type_id for r in readers.values()} == {gap_a}
    assert readers["gap-A"].offsets == (0,)
    assert readers["A"].offsets == tuple(range(0, 36, 5))  # 10-minute slots at +0 ... +35 cover 45
    assert readers["B"].offsets == tuple(range(0, 51, 5))


def test_a_simple_service_reads_its_own_event_type():
    assert slot_readers(DEMO["41"], provisioned(DEMO["41"]), FABIAN) == {"A": SlotReader(event_type_id=100)}


@pytest.mark.parametrize(
    "change",
    [
        {"sync_status": SyncStatus.DRIFTED},  # Cal.com differs from what we wrote
        {"minimum_notice": NOTICE + 60},  # another notice: another grid start
        {"slot_interval": 10},  # another grid
        {"minimum_notice": None},  # not recorded: unknown
    ],
)
def test_a_hold_whose_grid_is_not_known_to_be_shared_reads_its_own(change):
    readers = slot_readers(DEMO["177"], provisioned(DEMO["177"], C=change), FABIAN)
    assert readers["C"] == SlotReader(event_type_id=102)
    assert readers["D"] == SlotReader(event_type_id=101, offsets=(0, 5, 10, 15))


def test_a_missing_event_type_is_refused():
    entries = provisioned(DEMO["177"], C={"sync_status": SyncStatus.FAILED})
    with pytest.raises(EventTypeMissing):
        slot_readers(DEMO["177"], entries, FABIAN)


def test_a_reader_needs_every_covering_slot():
    start = datetime(2030, 3, 6, 13, 0, tzinfo=UTC)
    reader = SlotReader(event_type_id=101, offsets=(0, 5, 10, 15))
    slots = {start + timedelta(minutes=m) for m in (0, 5, 10, 15)}
    assert reader.free(start, slots)
    assert not reader.free(start, slots - {start + timedelta(minutes=10)})
    assert not reader.free(start + timedelta(minutes=5), slots)
