"""Which event type's Cal.com slots answer for a hold (pure; docs/adr/0016-availability-budget.md).

Every hold of every staff member has an event type of its own (docs/adr/0013), but a staff
member's event types share more than their host: calbridge provisions them alike, and the ones
with the same `slotInterval` and minimum notice offer their slots on the same grid over the same
free time. The shortest of them answers for the others, so availability asks Cal.com for fewer
event types.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from calbridge.domain.event_types import (
    EventMapEntry,
    EventMapIndex,
    SyncStatus,
    event_type_for,
    hold_targets,
)
from calbridge.domain.models import Service


class SlotReader(BaseModel):
    """How a hold's free starts are read from one event type's slots (the hold's own, or a
    shorter hold's of the same staff member on the same grid): the hold is free at `t` when the
    source has a slot at `t + offset` for every offset."""

    model_config = ConfigDict(frozen=True)

    event_type_id: int
    offsets: tuple[int, ...] = (0,)  # minutes

    def free(self, start: datetime, slots: set[datetime]) -> bool:
        return all(start + timedelta(minutes=offset) in slots for offset in self.offsets)


def slot_readers(service: Service, entries: EventMapIndex, user_id: int) -> dict[str, SlotReader]:
    """Per hold key, where its free starts are read for Cal.com user `user_id` (EventTypeMissing
    when a hold has no bookable event type).

    Cal.com offers an event type's slot at `t` when `t` is on its grid (`slotInterval` steps from
    the start of the working range, after the minimum notice) and the host works and is free for
    the whole length (packages/lib/slots.ts, getAggregatedAvailability.ts; one host: that host's
    ranges, docs/adr/0013). Two event types of one host with the same `slotInterval` and minimum
    notice share that grid, so a hold of length L at `t` is free exactly when the shorter source
    (length S >= the interval) has slots at t, t + step, ... up to t + L - S: together they cover
    [t, t + L) inside one working range, free. Only holds whose interval and notice calbridge
    wrote and a sync found in step (SYNCED) are grouped; any other hold reads its own event type.
    """
    holds = hold_targets(service)
    readers = {
        hold.key: SlotReader(event_type_id=event_type_for(hold, service, entries, user_id)) for hold in holds
    }
    groups: dict[tuple[int, int], list[EventMapEntry]] = {}
    for hold in holds:
        entry = entries[(hold.key, user_id)]
        interval, notice = entry.slot_interval, entry.minimum_notice
        if entry.sync_status is SyncStatus.SYNCED and interval and notice is not None:
            groups.setdefault((interval, notice), []).append(entry)
    for (step, _), members in groups.items():
        source = min(members, key=lambda e: e.length)
        if source.length < step:
            continue  # its slots would leave holes between them: each hold reads its own
        for entry in members:
            covering = math.ceil((entry.length - source.length) / step)
            readers[entry.segment_key] = SlotReader(
                event_type_id=readers[source.segment_key].event_type_id,
                offsets=tuple(k * step for k in range(covering + 1)),
            )
    return readers
