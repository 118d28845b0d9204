"""symviz._io: atomic writes keep the old file on failure and leave no temporary files behind."""

import stat

import numpy as np
import pytest
import torch

from symviz._io import atomic_write, atomic_write_text


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
