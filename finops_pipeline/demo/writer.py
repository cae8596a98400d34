"""Write the generated files so the landing dir holds exactly them, whatever ran before.

The landing dir is shared with real `gh aw logs` output, so the demo deletes only what it wrote
itself: the paths listed in its manifest. That is what makes a re-run with the same arguments
give the same tree (test_rerun_replaces_what_the_previous_run_wrote) without a risky rmtree.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

MANIFEST = ".demo-manifest.txt"  # not *.json: the source would take it for a --json listing


def replace_files(landing_dir: Path, files: dict[Path, bytes]) -> None:
    """Write `files`, and delete what the previous run listed in its manifest but this one
    does not write. The manifest is written first, so even an interrupted run is cleaned up."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    manifest = landing_dir / MANIFEST
    root = landing_dir.resolve()
    new = {rel.as_posix() for rel in files}
    if manifest.is_file():
        old = [line for line in manifest.read_text(encoding="utf-8").splitlines() if line]
        dirs: set[Path] = set()
        for rel in old:
            if rel in new:
                continue  # overwritten below
            path = (landing_dir / rel).resolve()
            if not path.is_relative_to(root) or path == root:
                continue  # never delete outside the landing dir
            path.unlink(missing_ok=True)
            dirs.update(p for p in path.parents if p.is_relative_to(root) and p != root)
        for directory in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
    manifest.write_text("".join(f"{rel}\n" for rel in sorted(new)), encoding="utf-8")
    made: set[Path] = set()
    for rel, data in sorted(files.items()):
        path = landing_dir / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(data)
