"""How long a company keeps a caller's data, and what counts as one caller's data (docs/adr/0028).

Call records and appointments carry `expires_at` (epoch seconds), DynamoDB's TTL attribute: the
table deletes an item some time after that moment (up to days later), so a read that must not show
expired data checks `expired()` itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from calbridge.domain.models import PhoneNumber

#: The attribute every table holding caller data expires by (Powertools' idempotency records use
#: their own, `expiration`).
TTL_ATTRIBUTE = "expires_at"


def expires_at(moment: datetime, retention_days: int) -> int:
    """The TTL value of an item kept `retention_days` after `moment` (epoch seconds)."""
    return int((moment + timedelta(days=int(retention_days))).timestamp())


def expired(expires: int | float | None, now: datetime) -> bool:
    """True when an item's TTL has passed (DynamoDB may not have deleted it yet); None never expires."""
    return expires is not None and int(expires) <= now.timestamp()


class CallerRef(BaseModel):
    """One caller, named by exactly one of their phone number (E.164) or e-mail address."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    phone: PhoneNumber | None = None
    # The e-mail shape the booking accepts (domain/booking.py Customer); compared case-insensitively.
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)

    @model_validator(mode="after")
    def _exactly_one(self) -> CallerRef:
        if (self.phone is None) == (self.email is None):
            raise ValueError("give exactly one of phone or email")
        return self

    @property
    def kind(self) -> Literal["phone", "email"]:
        return "phone" if self.phone is not None else "email"

    def names(self, phone: str | None, email: str | None) -> bool:
        """Whether a record's phone / e-mail is this caller's."""
        if self.phone is not None:
            return phone == self.phone
        return email is not None and email.strip().casefold() == (self.email or "").casefold()
