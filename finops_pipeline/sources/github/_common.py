"""Small helpers shared by the GitHub modules."""

from __future__ import annotations

import datetime as dt
import re

_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")


def check_repo(repo: str) -> str:
    """`owner/name`, validated so that it cannot smuggle path segments into a URL."""
    repo = repo.strip()
    if not _REPO_RE.match(repo) or repo.split("/")[1] in (".", ".."):
        raise ValueError(f"not a repository name (owner/name): {repo!r}")
    return repo


def as_day(day: dt.date | str) -> dt.date:
    """A UTC calendar day from a `date` or `YYYY-MM-DD`."""
    if isinstance(day, dt.datetime):
        raise TypeError("pass a date (the UTC day), not a datetime")
    if isinstance(day, dt.date):
        return day
    return dt.date.fromisoformat(day)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a UTC day."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def parse_time(value: object) -> dt.datetime | None:
    """An ISO 8601 timestamp from the API as an aware UTC datetime; None when absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def int_or_none(value: str | None) -> int | None:
    """`value` as an int (a header, a count); None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
