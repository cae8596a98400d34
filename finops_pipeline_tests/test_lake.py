from pathlib import Path

import polars as pl
import pytest

from finops_pipeline.lake import DataPaths, staged_path, write_or_remove, write_parquet_atomic


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
