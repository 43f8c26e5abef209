import numpy as np
import pytest

from microgen.io import read_volume, write_volume


@pytest.mark.parametrize("ext", [".tif", ".h5", ".npy"])
@pytest.mark.parametrize("shape", [(5, 7), (3, 5, 7)])
def test_round_trip(tmp_path, ext, shape):
    arr = np.random.default_rng(0).integers(0, 3, shape).astype(np.uint8)
    path = write_volume(tmp_path / f"x{ext}", arr, metadata={"phases": {"0": "pore"}, "voxel_size": 0.4})
    back = read_volume(path)
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_write_refuses_existing_and_leaves_no_partial_file(tmp_path):
    arr = np.zeros((4, 4), dtype=np.uint8)
    write_volume(tmp_path / "a.tif", arr)
    with pytest.raises(FileExistsError):
        write_volume(tmp_path / "a.tif", arr)
    with pytest.raises(ValueError, match="extension"):
        write_volume(tmp_path / "a.png", arr)
    with pytest.raises(TypeError):
        write_volume(tmp_path / "b.h5", np.array([object()]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_volume(tmp_path / "none.tif")
    with pytest.raises(ValueError, match="extension"):
        read_volume(tmp_path / "x.bmp")
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(ValueError, match="2D image or 3D volume"):
        read_volume(tmp_path / "v.npy")
