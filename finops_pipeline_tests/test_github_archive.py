"""read_archive on hostile zips: traversal, bombs, nesting, symlinks, corruption, copies."""

from __future__ import annotations

import io
import os
import stat
import struct
import sys
import tempfile
import threading
import tracemalloc
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finops_pipeline.schemas.gh_aw_layout import CANONICAL_TOKEN_USAGE
from finops_pipeline.sources.github.archive import (
    ArchiveLimits,
    read_archive,
    unsafe_reason,
)
from finops_pipeline_tests.fake_github import make_zip

TOKEN_LINE = b'{"timestamp":"2026-03-01T10:00:00Z","request_id":"r1","provider":"openai"}\n'
GIB = 1 << 30

# -- nothing may be written to disk: an audit hook sees every open() for writing ----------

_WRITES: list[str] = []
_WATCHING = threading.local()


def _audit(event: str, args: tuple) -> None:
    if event == "open" and getattr(_WATCHING, "on", False):
        path, mode = args[0], args[1]
        if isinstance(mode, str) and any(c in mode for c in "wax+"):
            _WRITES.append(str(path))
    elif event in ("os.mkdir", "os.rename", "os.symlink", "shutil.copyfile") and getattr(
        _WATCHING, "on", False
    ):
        _WRITES.append(f"{event}: {args[0]}")


sys.addaudithook(_audit)  # hooks cannot be removed; this one only acts while watching


def read_watched(data: bytes, limits: ArchiveLimits | None = None):
    _WATCHING.on = True
    try:
        return read_archive(data, limits=limits)
    finally:
        _WATCHING.on = False


@pytest.fixture(autouse=True)
def no_disk_writes(tmp_path, monkeypatch):
    """cwd and the temp dir are empty directories that must stay empty."""
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    _WRITES.clear()
    yield
    assert _WRITES == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "tmp", "work"]


# -- building hostile archives --------------------------------------------------------------


def raw_zip(entries: list[dict]) -> bytes:
    """A zip written by hand, so headers can say what the test wants (sizes, CRC, mode).

    Each entry: name, payload (the bytes as stored), method (0 stored, 8 deflate), crc,
    size (declared uncompressed size), mode (unix mode for external_attr).
    """
    out = io.BytesIO()
    central = []
    for e in entries:
        name = e["name"].encode()
        offset = out.tell()
        header = struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            e.get("method", 0),
            0,
            0x21,
            e["crc"],
            len(e["payload"]),
            e["size"],
            len(name),
            0,
        )
        out.write(header + name + e["payload"])
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | 20,
                20,
                0,
                e.get("method", 0),
                0,
                0x21,
                e["crc"],
                len(e["payload"]),
                e["size"],
                len(name),
                0,
                0,
                0,
                0,
                e.get("mode", 0o100644) << 16,
                offset,
            )
            + name
        )
    start = out.tell()
    for record in central:
        out.write(record)
    size = out.tell() - start
    count = len(central)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))
    return out.getvalue()


def stored(name: str, data: bytes, **extra) -> dict:
    return {"name": name, "payload": data, "crc": zlib.crc32(data), "size": len(data), **extra}


def zero_deflate(inflated: int) -> bytes:
    """A raw deflate stream of `inflated` zero bytes, built without allocating them.

    After a full flush the compressor starts afresh, so every further MiB of zeros compresses
    to the same bytes: compress one MiB, then repeat its output.
    """
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    count = inflated // len(mib)
    return first + block * (count - 1) + c.flush()


@pytest.fixture(scope="module")
def bomb_stream() -> bytes:
    return zero_deflate(3 * GIB)  # ~3 MB of deflate inflating to 3 GiB


def test_zero_deflate_really_inflates(bomb_stream):
    d = zlib.decompressobj(-15)
    head = d.decompress(bomb_stream[:20_000], 10 << 20)
    assert len(head) > 1 << 20 and not any(head)
    assert len(bomb_stream) < 8 << 20


# -- the happy path and the choice among copies ---------------------------------------------


def test_reads_the_wanted_members_only():
    data = make_zip(
        {
            CANONICAL_TOKEN_USAGE: TOKEN_LINE,
            "aw_info.json": b'{"engine":"copilot"}',
            "logs/agent_usage.json": b'{"x":1}',
            "logs/other.txt": b"not wanted",
        }
    )
    content = read_watched(data)
    assert content.problems == []
    assert content.token_usage == TOKEN_LINE
    assert content.token_usage_path == CANONICAL_TOKEN_USAGE
    assert content.members["aw_info.json"] == b'{"engine":"copilot"}'
    assert content.paths["agent_usage.json"] == "logs/agent_usage.json"
    assert set(content.members) == {"token-usage.jsonl", "aw_info.json", "agent_usage.json"}


def test_canonical_copy_wins_over_shallower_ones_and_others_are_recorded():
    data = make_zip(
        {
            "token-usage.jsonl": b"shallow\n",
            CANONICAL_TOKEN_USAGE: TOKEN_LINE,
            "a/token-usage.jsonl": b"deeper\n",
        }
    )
    content = read_watched(data)
    assert content.token_usage == TOKEN_LINE  # never merged
    assert sorted(content.ignored_copies) == ["a/token-usage.jsonl", "token-usage.jsonl"]


def test_without_canonical_the_shallowest_then_first_path_wins():
    data = make_zip(
        {
            "z/deep/token-usage.jsonl": b"deep\n",
            "b/token-usage.jsonl": b"b\n",
            "a/token-usage.jsonl": b"a\n",
        }
    )
    content = read_watched(data)
    assert content.token_usage == b"a\n"
    assert content.token_usage_path == "a/token-usage.jsonl"
    assert content.ignored_copies == ["b/token-usage.jsonl", "z/deep/token-usage.jsonl"]


def test_unreadable_chosen_copy_falls_back_to_the_next():
    good = stored("b/token-usage.jsonl", TOKEN_LINE)
    bad = stored(CANONICAL_TOKEN_USAGE, b"corrupted!", crc=1)
    content = read_watched(raw_zip([bad, good]))
    assert content.token_usage == TOKEN_LINE
    assert any(p.startswith("corrupt member") for p in content.problems)


# -- hostile names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/x", "parent-directory traversal"),
        ("a/../../token-usage.jsonl", "parent-directory traversal"),
        ("..\\..\\token-usage.jsonl", "parent-directory traversal"),
        ("/etc/passwd", "absolute path"),
        ("/token-usage.jsonl", "absolute path"),
        ("\\\\server\\share\\x", "absolute path"),
        ("C:/Windows/token-usage.jsonl", "drive-letter path"),
        ("ok/..", "parent-directory traversal"),
    ],
)
def test_unsafe_reason(name, reason):
    assert unsafe_reason(name) == reason


def test_traversal_and_absolute_names_are_ignored_and_recorded():
    data = make_zip(
        {
            "../../etc/x": b"evil",
            "../token-usage.jsonl": b"evil\n",
            "/abs/token-usage.jsonl": b"evil\n",
            "/etc/cron.d/job": b"evil",
            "C:/aw_info.json": b"evil",
            "logs/token-usage.jsonl": TOKEN_LINE,
            "aw_info.json": b"{}",
        }
    )
    content = read_watched(data)
    assert content.token_usage == TOKEN_LINE
    assert content.members["aw_info.json"] == b"{}"
    unsafe = [p for p in content.problems if p.startswith("unsafe path ignored")]
    assert len(unsafe) == 5
    assert any("'../../etc/x'" in p and "traversal" in p for p in unsafe)
    assert any("'/etc/cron.d/job'" in p and "absolute" in p for p in unsafe)
    assert content.ignored_copies == []  # the unsafe copies were never candidates


def test_many_unsafe_names_are_summarized():
    data = make_zip({f"../x{i}": b"" for i in range(50)})
    content = read_watched(data)
    assert len(content.problems) == 21
    assert "30 more" in content.problems[-1]


def test_symlink_entry_is_ignored():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("token-usage.jsonl")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("aw_info.json", b"{}")
    content = read_watched(buf.getvalue())
    assert content.token_usage is None
    assert content.members["aw_info.json"] == b"{}"
    assert content.problems == ["symlink ignored: 'token-usage.jsonl'"]


def test_nested_archives_are_not_opened():
    inner = make_zip({CANONICAL_TOKEN_USAGE: TOKEN_LINE})
    data = make_zip({"inner.zip": inner, "logs.tar.gz": b"\x1f\x8b", "aw_info.json": b"{}"})
    content = read_watched(data)
    assert content.token_usage is None
    assert len(content.ignored) == 2
    assert content.problems == []


def test_directory_entries_are_skipped():
    data = make_zip({"token-usage.jsonl/": b"", "x/token-usage.jsonl": TOKEN_LINE})
    assert read_watched(data).token_usage == TOKEN_LINE


def test_encrypted_member_is_ignored():
    entry = stored("token-usage.jsonl", TOKEN_LINE)
    data = bytearray(raw_zip([entry]))
    # set the "encrypted" flag bit in the local and central headers
    struct.pack_into("<H", data, 6, 1)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 1)
    content = read_watched(bytes(data))
    assert content.token_usage is None
    assert content.problems == ["encrypted member ignored: 'token-usage.jsonl'"]


# -- bombs and limits -----------------------------------------------------------------------


def _peak_of(fn):
    tracemalloc.start()
    try:
        result = fn()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_honest_zip_bomb_is_refused_by_its_declared_size(bomb_stream):
    bomb = {
        "name": CANONICAL_TOKEN_USAGE,
        "payload": bomb_stream,
        "method": 8,
        "crc": 0,
        "size": 3 * GIB,
    }
    data = raw_zip([bomb, stored("aw_info.json", b"{}"), stored("x/token-usage.jsonl", TOKEN_LINE)])
    content, peak = _peak_of(lambda: read_watched(data))
    assert peak < 32 << 20
    assert content.members["aw_info.json"] == b"{}"
    assert content.token_usage == TOKEN_LINE  # the next copy is used
    assert content.limit_exceeded
    assert any("declares 3221225472 bytes" in p for p in content.problems)


def test_lying_zip_bomb_never_inflates_beyond_its_limits(bomb_stream):
    # declares 1 KiB (and the CRC of 1 KiB of zeros) but the stream inflates to 3 GiB
    bomb = {
        "name": "token-usage.jsonl",
        "payload": bomb_stream,
        "method": 8,
        "crc": zlib.crc32(bytes(1024)),
        "size": 1024,
    }
    data = raw_zip([bomb, stored("aw_info.json", b"{}")])
    content, peak = _peak_of(lambda: read_watched(data))
    assert peak < 32 << 20
    assert content.members["aw_info.json"] == b"{}"
    assert len(content.token_usage or b"") <= 1024


def test_lying_zip_bomb_with_wrong_crc_is_a_corrupt_member(bomb_stream):
    bomb = {"name": "token-usage.jsonl", "payload": bomb_stream, "method": 8, "crc": 5, "size": 900}
    content, peak = _peak_of(lambda: read_watched(raw_zip([bomb])))
    assert peak < 32 << 20
    assert content.token_usage is None
    assert content.problems[0].startswith("corrupt member: 'token-usage.jsonl'")


def test_bomb_written_in_chunks_by_zipfile_is_refused():
    # an honest 64 MiB of zeros through zipfile's own writer, never held in memory at once
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("token-usage.jsonl", "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(64):
                member.write(chunk)
        zf.writestr("aw_info.json", b"{}")
    content = read_watched(buf.getvalue())
    assert content.token_usage is None
    assert content.members["aw_info.json"] == b"{}"
    assert any("compression ratio" in p for p in content.problems)


def test_member_size_and_total_limits():
    data = make_zip(
        {"token-usage.jsonl": os.urandom(3000), "aw_info.json": os.urandom(3000)},
        compression=zipfile.ZIP_STORED,
    )
    content = read_watched(data, ArchiveLimits(max_member_bytes=2000))
    assert content.members == {}
    assert sum("per-member limit" in p for p in content.problems) == 2
    content = read_watched(data, ArchiveLimits(max_total_bytes=4000))
    assert list(content.members) == ["token-usage.jsonl"]
    assert any("total limit" in p for p in content.problems)


def test_too_many_entries():
    data = make_zip({f"f{i}.txt": b"" for i in range(30)})
    content = read_watched(data, ArchiveLimits(max_entries=20))
    assert content.limit_exceeded
    assert content.problems == ["archive limit exceeded: 30 entries, over the limit of 20"]


# -- corrupt input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 100, make_zip({"a": b"b"})[:-10]],
)
def test_corrupt_zip_is_a_problem_not_an_exception(data):
    content = read_watched(data)
    assert content.corrupt
    assert content.members == {}
    assert content.problems[0].startswith("corrupt zip: ")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data):
    content = read_watched(data)
    assert isinstance(content.problems, list)


VALID = make_zip(
    {CANONICAL_TOKEN_USAGE: TOKEN_LINE * 20, "aw_info.json": b"{}", "x/agent_usage.json": b"[]"}
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_zip_never_raises(flips):
    data = bytearray(VALID)
    for position, value in flips:
        data[position] = value
    content = read_watched(bytes(data))
    for name, value in content.members.items():
        assert isinstance(value, bytes) and name in content.paths
