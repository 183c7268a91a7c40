"""A company's Cal.com team as the team sync last saw it (TeamMembersTable).

Members (`member#<user id>`) and team event types with their hosts (`event_type#<id>`) share one
partition per company: the sync reads each kind with one query and writes its changes in batches.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from pynamodb.exceptions import PynamoDBException

from calbridge.adapters.store.models import TeamEventTypeRecord, TeamMemberRecord
from calbridge.domain.team_sync import EVENT_TYPE_PREFIX, MEMBER_PREFIX, TeamEventTypeMapping, TeamMember
from calbridge.errors import StoreUnavailable

_UNAVAILABLE = "the team member store is unavailable"


class TeamSnapshot(BaseModel):
    """Everything stored about one company's team, by Cal.com id."""

    members: dict[int, TeamMember]
    event_types: dict[int, TeamEventTypeMapping]


def _member(record: TeamMemberRecord) -> TeamMember:
    times = {"first_seen_at": record.first_seen_at, "updated_at": record.updated_at}
    return TeamMember.model_validate(
        {**record.to_simple_dict(), **times, "deactivated_at": record.deactivated_at}
    )


def _event_type(record: TeamEventTypeRecord) -> TeamEventTypeMapping:
    return TeamEventTypeMapping.model_validate({**record.to_simple_dict(), "updated_at": record.updated_at})


class TeamRepository:
    def load(self, company_id: str) -> TeamSnapshot:
        """The company's members and team event types (active or not): one query per key prefix."""
        members: dict[int, TeamMember] = {}
        event_types: dict[int, TeamEventTypeMapping] = {}
        try:
            for record in TeamMemberRecord.query(
                company_id, TeamMemberRecord.item_key.startswith(MEMBER_PREFIX)
            ):
                members[record.user_id] = _member(record)
            for et in TeamEventTypeRecord.query(
                company_id, TeamEventTypeRecord.item_key.startswith(EVENT_TYPE_PREFIX)
            ):
                event_types[et.event_type_id] = _event_type(et)
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
        return TeamSnapshot(members=members, event_types=event_types)

    def save_members(self, members: Sequence[TeamMember]) -> None:
        """Upsert in BatchWriteItem calls of 25 (PynamoDB retries unprocessed items)."""
        if not members:
            return
        try:
            with TeamMemberRecord.batch_write() as batch:
                for member in members:
                    data = member.model_dump(mode="python", exclude={"company_id"})
                    batch.save(TeamMemberRecord(member.company_id, member.key, **data))
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc

    def save_event_types(self, mappings: Sequence[TeamEventTypeMapping]) -> None:
        if not mappings:
            return
        try:
            with TeamEventTypeRecord.batch_write() as batch:
                for mapping in mappings:
                    data = mapping.model_dump(mode="python", exclude={"company_id", "hosts"})
                    hosts = [host.model_dump() for host in mapping.hosts]
                    batch.save(TeamEventTypeRecord(mapping.company_id, mapping.key, hosts=hosts, **data))
        except PynamoDBException as exc:
            raise StoreUnavailable(_UNAVAILABLE) from exc
