"""The bundled example pack ships in the wheel, so `run tiny` with no arguments works
after a plain pip install (not only from a source checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from picochat.pipeline.inputs import BUNDLED_PACK

REPO = Path(__file__).resolve().parents[2]


def test_wheel_carries_every_file_of_the_bundled_pack(tmp_path):
    # A clean copy: setuptools' build/ folder in a working tree can hold stale files.
    source = tmp_path / "source"
    shutil.copytree(
        REPO, source, symlinks=True,
        ignore=shutil.ignore_patterns(".*", "build", "runs", "*.egg-info", "__pycache__"),
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("picochat-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("picochat/examples/")}
    pack_folder = BUNDLED_PACK.parent  # the pack, its chat/eval/preference files, corpus/

    def is_data(path: Path) -> bool:
        rel = path.relative_to(pack_folder)
        return rel.parts[0] == "corpus" or path.suffix in {".json", ".jsonl", ".txt"}

    needed = {
        "picochat/examples/" + p.relative_to(pack_folder).as_posix()
        for p in pack_folder.rglob("*")
        if p.is_file() and is_data(p)
    }
    assert "picochat/examples/tiny_dataset_pack.json" in shipped
    assert needed <= shipped, sorted(needed - shipped)
