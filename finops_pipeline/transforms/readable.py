"""Numbers as text a person reads at a glance, as polars expressions (for the messages of
anomalies and recommendations, built for every row at once)."""

from __future__ import annotations

import polars as pl


def trim(x: pl.Expr, decimals: int = 1) -> pl.Expr:
    """`x` rounded, as text without a trailing `.0`."""
    return x.round(decimals).cast(pl.String).str.replace(r"\.0+$", "")


def compact(x: pl.Expr) -> pl.Expr:
    """2.3M, 450k, 812."""
    a = x.abs()
    return (
        pl.when(a >= 1e9).then(pl.concat_str(trim(x / 1e9), pl.lit("B")))
        .when(a >= 1e6).then(pl.concat_str(trim(x / 1e6), pl.lit("M")))
        .when(a >= 1e3).then(pl.concat_str(trim(x / 1e3), pl.lit("k")))
        .otherwise(trim(x, 0))
    )


def usd(x: pl.Expr) -> pl.Expr:
    """$12.30, <$0.01, -$1.00."""
    cents = (x.abs() * 100).round(0).cast(pl.Int64)
    text = pl.concat_str(pl.lit("$"), (cents // 100).cast(pl.String), pl.lit("."),
                         (cents % 100).cast(pl.String).str.zfill(2))
    return (pl.when((x > 0) & (x < 0.005)).then(pl.lit("<$0.01"))
            .when(x < 0).then(pl.concat_str(pl.lit("-"), text)).otherwise(text))


def pct(fraction: pl.Expr) -> pl.Expr:
    """0.375 -> 37.5%."""
    return pl.concat_str(trim(fraction * 100), pl.lit("%"))
