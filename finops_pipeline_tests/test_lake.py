import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.lake import (
    DataPaths,
    lazy_from_batches,
    read_raw_day,
    staged_path,
    write_or_remove,
    write_parquet_atomic,
    write_raw_day,
    write_sorted_parquet_atomic,
)
from finops_pipeline.schemas.raw import RAW_KINDS


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path):
    paths = DataPaths(tmp_path)
    final = tmp_path / "lake" / "x" / "day=2026-03-01" / "data.parquet"
    write_parquet_atomic(paths, pl.DataFrame({"a": [1]}), final)
    write_parquet_atomic(paths, pl.DataFrame({"a": [2, 3]}), final)
    assert pl.read_parquet(final)["a"].to_list() == [2, 3]
    assert list(paths.staging.iterdir()) == []


def test_interrupted_write_keeps_previous_file(tmp_path: Path):
    paths = DataPaths(tmp_path)
    final = tmp_path / "lake" / "x" / "data.parquet"
    write_parquet_atomic(paths, pl.DataFrame({"a": [1]}), final)
    with pytest.raises(KeyboardInterrupt), staged_path(paths, final) as tmp:
        tmp.write_bytes(b"PAR1 half a file")  # a writer killed mid-way
        raise KeyboardInterrupt
    assert pl.read_parquet(final)["a"].to_list() == [1]
    assert list(paths.staging.iterdir()) == []


def test_empty_frame_keeps_schema_and_quarantine_is_removed(tmp_path: Path):
    paths = DataPaths(tmp_path)
    final = tmp_path / "lake" / "x" / "data.parquet"
    write_parquet_atomic(paths, pl.DataFrame(schema={"a": pl.Int64}), final)
    assert pl.read_parquet(final).schema == {"a": pl.Int64}
    q = tmp_path / "quarantine" / "x" / "data.parquet"
    write_or_remove(paths, pl.DataFrame({"a": [1]}), q)
    assert q.exists()
    write_or_remove(paths, pl.DataFrame(schema={"a": pl.Int64}), q)
    assert not q.exists()


@pytest.mark.parametrize("slice_rows", [3, 1_000])
def test_sorted_write_in_slices_equals_one_sort(tmp_path: Path, monkeypatch, slice_rows):
    """A big day file is written a slice of its sort permutation at a time (memory); the file
    must hold exactly `df.sort(by)`, and a re-run the same bytes."""
    import finops_pipeline.lake as lake

    monkeypatch.setattr(lake, "SORTED_SLICE_ROWS", slice_rows)
    paths = DataPaths(tmp_path)
    df = pl.DataFrame({
        "source": ["b", "a", "a", "b", "a", "a", "b", "a", "a", "a", "b"],
        "run_id": [3, 2, 1, 1, 2, 1, 2, None, 3, 2, 1],
        "request_id": ["x", "b", "z", "y", "a", "y", "q", "n", "c", None, "x"],
        "tokens": list(range(11)),
        "when": pl.datetime_range(dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                                  dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC), "1h", eager=True),
    })
    by = ["source", "run_id", "request_id"]
    first = write_sorted_parquet_atomic(paths, df, by, tmp_path / "one.parquet")
    again = write_sorted_parquet_atomic(paths, df, by, tmp_path / "two.parquet")
    assert pl.read_parquet(first).equals(df.sort(by))
    assert first.read_bytes() == again.read_bytes()
    assert list(paths.staging.iterdir()) == []


def test_a_lazy_raw_frame_is_streamed_and_read_back_lazily(tmp_path: Path):
    """A source may deliver a streamed kind as a LazyFrame; it is counted as written and read
    back as a scan (token lines are never held whole)."""
    paths = DataPaths(tmp_path)
    day = dt.date(2026, 3, 1)
    rows = pl.DataFrame({
        "_run_ref": ["r1", "r1", "r2"], "_source": ["f1", "f1", "f2"], "_line": [1, 2, 1],
        "_file_rank": [0, 0, 0], "_is_last_line": [False, True, True],
        "_raw": ['{"a": 1}', "{", '{"b": 2}'], "_decode_error": [None, None, None],
    }, schema=RAW_KINDS["token_usage"].schema)
    batches = lambda: iter([rows.head(2), rows.tail(1)])  # noqa: E731
    written = write_raw_day(paths, "src", day, {
        "token_usage": lazy_from_batches(batches, rows.schema),
        "runs": RAW_KINDS["runs"].empty()})
    assert written == {"token_usage": 3, "runs": 0}
    raw = read_raw_day(paths, "src", ["runs", "token_usage"], day)
    assert isinstance(raw["token_usage"], pl.LazyFrame)
    assert isinstance(raw["runs"], pl.DataFrame)
    assert raw["token_usage"].collect().equals(rows)
    with pytest.raises(TypeError, match="raw contract"):
        write_raw_day(paths, "src", day, {"token_usage": rows.drop("_raw").lazy()})
