"""The double of DynamoDB's Time to Live process, which moto does not run (docs/adr/0028).

DynamoDB deletes an item some time (up to days) after the epoch seconds in the table's TTL
attribute have passed; moto keeps the setting but never deletes anything. `expire_items` does
what that background process does, at the moment a test (or the local stack) calls it: every
table with TTL enabled loses the items whose TTL attribute is a number at or before `now`. Items
without the attribute, or with a non-number there, are kept, as DynamoDB keeps them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def expire_items(dynamodb: Any, now: datetime | None = None) -> dict[str, int]:
    """Delete every expired item of every TTL table through the boto3 `dynamodb` client; the
    number deleted per table (tables that lost none are left out)."""
    moment = (now or datetime.now(UTC)).timestamp()
    deleted: dict[str, int] = {}
    for table in _tables(dynamodb):
        spec = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        attribute = spec.get("AttributeName")
        if spec.get("TimeToLiveStatus") != "ENABLED" or not attribute:
            continue
        keys = [
            key["AttributeName"] for key in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        for item in _items(dynamodb, table):
            value = item.get(attribute, {}).get("N")
            if value is not None and float(value) <= moment:
                dynamodb.delete_item(TableName=table, Key={key: item[key] for key in keys})
                deleted[table] = deleted.get(table, 0) + 1
    return deleted


def _tables(dynamodb: Any) -> list[str]:
    names: list[str] = []
    for page in dynamodb.get_paginator("list_tables").paginate():
        names += page["TableNames"]
    return names


def _items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    return items
