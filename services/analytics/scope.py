"""What a report looks at: one project or all, some characters or all, a range of UTC days.

Every report takes a Scope; `Analytics.check` validates it (unknown ids are NotFound, an impossible range is
Invalid) before any report runs, so the reports themselves only build conditions from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from services.errors import Invalid

# The longest range a per-day report draws (a year and a day: a leap year's whole year fits).
MAX_DAYS = 366
# A report over more characters than this is every character: the filter is for picking a few.
MAX_CHARACTERS = 50
# The days a range may name: no studio history is older, and the end's next midnight must exist.
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
# The days a per-day report shows when the range names no start.
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Scope:
    project_id: int | None = None  # None: every project
    character_ids: tuple[int, ...] = ()  # empty: every character of the project(s)
    since: date | None = None  # first UTC day, inclusive; None: from the beginning
    until: date | None = None  # last UTC day, inclusive; None: up to now

    def check_range(self) -> None:
        """Invalid when the range is impossible or the character filter too long (the ids are checked against
        the database by Analytics.check)."""
        if self.since is not None and self.until is not None and self.since > self.until:
            raise Invalid("since", f"the range starts ({self.since}) after it ends ({self.until})")
        for name, day in (("since", self.since), ("until", self.until)):
            if day is not None and not EARLIEST <= day <= LATEST:
                raise Invalid(name, f"{name} must be a day from {EARLIEST} to {LATEST}")
        if len(self.character_ids) > MAX_CHARACTERS:
            raise Invalid("character_id", f"name at most {MAX_CHARACTERS} characters")

    @property
    def start(self) -> datetime | None:
        """The range's first instant (UTC), for `decided_at >= start`."""
        return None if self.since is None else datetime.combine(self.since, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime | None:
        """The instant after the range (UTC), for `decided_at < end`."""
        return None if self.until is None else datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=UTC)

    def days(self, today: date) -> list[date]:
        """The days a per-day report shows, oldest first: the range, or the DEFAULT_DAYS up to its end (today
        when open). Invalid: more than MAX_DAYS."""
        last = self.until or today
        first = self.since or last - timedelta(days=DEFAULT_DAYS - 1)
        count = (last - first).days + 1
        if count > MAX_DAYS:
            raise Invalid("since", f"a per-day report covers at most {MAX_DAYS} days; this range has {count}")
        return [first + timedelta(days=offset) for offset in range(max(count, 0))]
