"""Read the wanted members of an artifact zip in memory. Archives are hostile input.

Nothing is ever extracted to disk. Only three members are read, by file name:
`token-usage.jsonl`, `agent_usage.json` and `aw_info.json`. Every limit below is enforced
on what is actually inflated, not on what the headers claim, and every member skipped or
refused leaves a reason in `ArchiveContent.problems` (or `ignored`, for the harmless ones).

Which copy of a member is read when the archive holds several (never two merged):
`token-usage.jsonl` at the canonical path `sandbox/firewall/logs/api-proxy-logs/` first;
otherwise, as for the other members, the shallowest path, then the lexicographically first.
If the chosen copy cannot be read (corrupt, over a limit) the next one in that order is used.
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass, field

from finops_pipeline.schemas.gh_aw_layout import (
    AGENT_USAGE,
    AW_INFO,
    PREFERRED_TOKEN_USAGE,
    TOKEN_USAGE,
    TOKEN_USAGE_ALIASES,
)

WANTED = (TOKEN_USAGE, AGENT_USAGE, AW_INFO)
ALIASES = TOKEN_USAGE_ALIASES
NESTED_ARCHIVE_SUFFIXES = (
    ".zip",
    ".tar",
    ".tgz",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".lz4",
    ".7z",
    ".rar",
    ".jar",
    ".whl",
)

# Problem kinds: each problem string starts with one of these.
CORRUPT_ZIP = "corrupt zip"
LIMIT_EXCEEDED = "archive limit exceeded"
CORRUPT_MEMBER = "corrupt member"
UNSAFE_PATH = "unsafe path ignored"
SYMLINK = "symlink ignored"
ENCRYPTED = "encrypted member ignored"

_MiB = 1024 * 1024
_CHUNK = 64 * 1024
_MAX_LISTED = 20
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps for one artifact archive (all configurable).

    Attributes:
        max_archive_bytes: largest zip downloaded (the caller passes it to `download`).
        max_entries: an archive with more entries is refused whole.
        max_member_bytes: largest member read, declared and actually inflated.
        max_total_bytes: all members read from one archive together, declared and actual.
        max_ratio: largest inflated / compressed size of a member ...
        ratio_min_bytes: ... once it inflates beyond this (tiny files compress absurdly).
    """

    max_archive_bytes: int = 256 * _MiB
    max_entries: int = 10_000
    max_member_bytes: int = 256 * _MiB
    max_total_bytes: int = 512 * _MiB
    max_ratio: float = 200.0
    ratio_min_bytes: int = 1 * _MiB


@dataclass
class ArchiveContent:
    """What `read_archive` found.

    Attributes:
        members: bytes of the wanted members found, keyed by file name (`token-usage.jsonl`,
            `agent_usage.json`, `aw_info.json`).
        paths: the path in the archive each member was read from.
        ignored_copies: paths of further copies of a member that were not read.
        ignored: harmless entries left alone on purpose (nested archives).
        problems: entries refused or unreadable, each `kind: detail` (see the kinds above).
    """

    members: dict[str, bytes] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    ignored_copies: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def token_usage(self) -> bytes | None:
        return self.members.get(TOKEN_USAGE)

    @property
    def token_usage_path(self) -> str | None:
        return self.paths.get(TOKEN_USAGE)

    @property
    def corrupt(self) -> bool:
        return any(p.startswith(CORRUPT_ZIP) for p in self.problems)

    @property
    def limit_exceeded(self) -> bool:
        return any(p.startswith(LIMIT_EXCEEDED) for p in self.problems)


def _show(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unsafe_reason(name: str) -> str | None:
    """Why a member name must not be trusted as a path (None when it is fine)."""
    if not name:
        return "empty name"
    if "\x00" in name:
        return "NUL byte in name"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if _DRIVE_RE.match(name):
        return "drive-letter path"
    if ".." in re.split(r"[/\\]", name):
        return "parent-directory traversal"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _normalize(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _rank(wanted: str, path: str, index: int) -> tuple[int, int, str, int]:
    preferred = PREFERRED_TOKEN_USAGE if wanted == TOKEN_USAGE else ()
    place = preferred.index(path) if path in preferred else len(preferred)
    return place, path.count("/"), path, index


def read_archive(data: bytes, *, limits: ArchiveLimits | None = None) -> ArchiveContent:
    """Read the wanted members of a zip held in memory; never raises on bad input.

    A corrupt archive gives `problems=["corrupt zip: ..."]`; refused entries (unsafe paths,
    symlinks, encrypted, over a limit) are recorded and the good members beside them kept.
    """
    limits = limits or ArchiveLimits()
    content = ArchiveContent()
    try:
        _read(data, limits, content)
    except Exception as exc:  # hostile bytes raise all sorts; none may stop the day
        content.problems.append(f"{CORRUPT_ZIP}: {_describe(exc)}")
    return content


def _read(data: bytes, limits: ArchiveLimits, content: ArchiveContent) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            content.problems.append(
                f"{LIMIT_EXCEEDED}: {len(infos)} entries, over the limit of {limits.max_entries}"
            )
            return
        candidates: dict[str, list[tuple[str, int, zipfile.ZipInfo]]] = {w: [] for w in WANTED}
        unsafe: list[str] = []
        for index, info in enumerate(infos):
            name = info.filename
            reason = unsafe_reason(name)
            if reason is not None:
                unsafe.append(f"{UNSAFE_PATH}: {_show(name)} ({reason})")
                continue
            if name.endswith(("/", "\\")):  # a directory
                continue
            if _is_symlink(info):
                unsafe.append(f"{SYMLINK}: {_show(name)}")
                continue
            path = _normalize(name)
            base = path.rsplit("/", 1)[-1]
            if base.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
                content.ignored.append(f"nested archive not opened: {_show(name)}")
                continue
            key = ALIASES.get(base, base)
            if key in candidates:
                candidates[key].append((path, index, info))
        content.problems.extend(unsafe[:_MAX_LISTED])
        if len(unsafe) > _MAX_LISTED:
            content.problems.append(
                f"{UNSAFE_PATH}: ... and {len(unsafe) - _MAX_LISTED} more unsafe entries"
            )
        budget = limits.max_total_bytes
        for wanted, found in candidates.items():
            ordered = sorted(found, key=lambda c, w=wanted: _rank(w, c[0], c[1]))
            for position, (path, _index, info) in enumerate(ordered):
                result = _read_member(archive, info, limits, budget)
                if isinstance(result, str):
                    content.problems.append(result)
                    continue
                content.members[wanted] = result
                content.paths[wanted] = path
                budget -= len(result)
                content.ignored_copies.extend(p for p, _i, _n in ordered[position + 1 :])
                break


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits, budget: int
) -> bytes | str:
    """The member's bytes, or a problem string."""
    name = _show(info.filename)
    if info.flag_bits & 0x1:
        return f"{ENCRYPTED}: {name}"
    declared, packed = info.file_size, info.compress_size
    if declared > limits.max_member_bytes:
        return (
            f"{LIMIT_EXCEEDED}: {name} declares {declared} bytes, over the per-member limit "
            f"of {limits.max_member_bytes}"
        )
    if declared > budget:
        return (
            f"{LIMIT_EXCEEDED}: {name} declares {declared} bytes, over what is left of the "
            f"total limit ({budget} of {limits.max_total_bytes})"
        )
    ratio_cap = max(limits.ratio_min_bytes, int(max(packed, 1) * limits.max_ratio))
    if declared > ratio_cap:
        return (
            f"{LIMIT_EXCEEDED}: {name} declares a compression ratio over {limits.max_ratio:g} "
            f"({declared} bytes from {packed})"
        )
    # Headers can lie: stop inflating at the first byte beyond any limit.
    cap = min(limits.max_member_bytes, budget, ratio_cap)
    buf = bytearray()
    try:
        with archive.open(info) as member:
            while True:
                chunk = member.read(min(_CHUNK, cap + 1 - len(buf)))
                if not chunk:
                    break
                buf += chunk
                if len(buf) > cap:
                    return f"{LIMIT_EXCEEDED}: {name} inflates beyond {cap} bytes"
    except Exception as exc:  # CRC errors, bad deflate streams, unsupported methods ...
        return f"{CORRUPT_MEMBER}: {name}: {_describe(exc)}"
    return bytes(buf)
