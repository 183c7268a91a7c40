"""Gap event types of `blocked` services: names, slugs, the slot interval on the wire and in drift."""

from __future__ import annotations

from calbridge.adapters.calcom.models import TeamEventType, TeamEventTypeUpdate
from calbridge.domain.event_types import EventTypeShape, gap_key, gap_title, segment_slug


def test_a_gap_is_named_after_the_segment_before_it():
    assert gap_key("A") == "gap-A"
    assert gap_title("Herrenhaarschnitt", "Schneiden") == "Herrenhaarschnitt - Pause nach Schneiden"
    assert segment_slug("42", gap_key("A")) == "cb-42-gap-a"


def test_the_slot_interval_goes_on_the_wire_as_slotInterval_and_is_read_back():
    assert TeamEventTypeUpdate(slot_interval=5).body() == {"slotInterval": 5}
    assert TeamEventTypeUpdate(hidden=True).body() == {"hidden": True}  # not sent when not set
    assert TeamEventType.model_validate({"id": 1, "slotInterval": 5}).slot_interval == 5
    assert TeamEventType.model_validate({"id": 1, "slotInterval": None}).slot_interval is None


def test_a_wanted_slot_interval_is_drift_an_unmanaged_one_is_not():
    found = EventTypeShape(title="t", slug="s", length=10, slot_interval=None)
    wanted = EventTypeShape(title="t", slug="s", length=10, slot_interval=5)
    assert wanted.differences(found) == ["slot interval None -> 5"]
    assert found.differences(wanted) == []  # None: the provisioner leaves Cal.com's value alone
