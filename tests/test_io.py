"""symviz._io: atomic writes keep the old file on failure and leave no temporary files behind."""

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from symviz._io import atomic_write, atomic_write_text, check_writable


def test_text_write_creates_folders_and_shared_mode(tmp_path):
    out = tmp_path / "a" / "b" / "res.md"
    assert atomic_write_text(out, "héllo\n") == out
    assert out.read_text(encoding="utf-8") == "héllo\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert sorted(p.name for p in out.parent.iterdir()) == ["res.md"]


@pytest.mark.parametrize("binary", [True, False])
def test_failed_write_keeps_old_contents_and_removes_temp(tmp_path, binary):
    out = tmp_path / "ckpt.bin"
    out.write_bytes(b"old")

    def half_then_fail(fh):
        fh.write(b"new" if binary else "new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(out, half_then_fail, binary=binary)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.bin"]


def test_torch_and_numpy_writers_round_trip(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    atomic_write(tmp_path / "s.pt", lambda fh: torch.save(state, fh))
    assert torch.equal(torch.load(tmp_path / "s.pt", weights_only=True)["w"], state["w"])
    atomic_write(tmp_path / "a.npz", lambda fh: np.savez_compressed(fh, x=np.ones(3)))
    with np.load(tmp_path / "a.npz") as z:
        assert np.array_equal(z["x"], np.ones(3))


def test_temporary_file_of_a_killed_write_is_removed_by_the_next_write(tmp_path):
    """A writer killed with SIGKILL inside write() leaves its temp file; the next write of the path deletes it."""
    out = tmp_path / "ckpt.pt"
    code = (
        "import os, signal, sys\n"
        "from symviz._io import atomic_write\n"
        "def die(fh):\n"
        "    fh.write(b'half'); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "atomic_write(sys.argv[1], die)\n"
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", code, str(out)], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".ckpt.pt.") and left[0].endswith(".tmp"), left
    # a temp file of a live writer (this process) and of another file name must survive
    live = tmp_path / f".ckpt.pt.{os.getpid()}.abc.tmp"
    live.write_bytes(b"in progress")
    other = tmp_path / ".other.pt.1.abc.tmp"
    other.write_bytes(b"x")
    atomic_write_text(out, "new")
    assert out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "ckpt.pt"])


def test_check_writable_finds_bad_destinations_before_any_work(tmp_path):
    assert check_writable(tmp_path / "new" / "c.pt") == tmp_path / "new" / "c.pt"
    assert list((tmp_path / "new").iterdir()) == []  # its probe file is gone
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file")
    with pytest.raises(ValueError, match="checkpoint_path .* cannot be written"):
        check_writable(blocker / "c.pt", "checkpoint_path")
    with pytest.raises(ValueError, match="is a folder"):
        check_writable(tmp_path, "checkpoint_path")
