"""ISO 8601 timestamps as telemetry writes them, parsed to UTC in one polars expression."""

from __future__ import annotations

import datetime as dt

import polars as pl

# Go writes nanoseconds, JavaScript milliseconds, Python microseconds; some writers drop the
# offset. Normalize the text first so a single explicit format parses every variant: relying on
# polars' format inference would pick the format of the first value and null out the rest.
_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"
_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # Go's zero time 0001-01-01 means "unset"


def parse_utc_timestamp(expr: pl.Expr) -> pl.Expr:
    """Parse ISO 8601 text to Datetime(us, UTC); null when missing, invalid or before 2000."""
    s = expr.str.strip_chars().str.replace(r"^(\d{4}-\d{2}-\d{2})[ t]", "${1}T")
    s = s.str.replace(r"[Zz]$", "+00:00")
    s = pl.when(s.str.contains(r"[+-]\d{2}:?\d{2}$")).then(s).otherwise(s + pl.lit("+00:00"))
    parsed = s.str.to_datetime(_FORMAT, time_unit="us", time_zone="UTC", strict=False)
    return pl.when(parsed >= pl.lit(_EARLIEST)).then(parsed)


def parse_utc_days(values: list[str | None]) -> list[dt.date | None]:
    """UTC day of each timestamp text (None where it does not parse)."""
    series = pl.Series("t", values, dtype=pl.String)
    return pl.select(parse_utc_timestamp(pl.lit(series)).dt.date()).to_series().to_list()
