"""Inpainting with exact mass, intensity images and class conditioning (issue: the paper's other
capabilities), on tiny untrained models: the invariants hold whatever the weights."""

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import microgen
from microgen.cli import main
from microgen.engine import DSDModel, NetworkConfig, ProcessConfig, Schedule
from tests.helpers import tiny_model


def _scan(shape, seed, codes=(0, 1)):
    return np.random.default_rng(seed).choice(codes, size=shape).astype(np.uint8)


@pytest.mark.parametrize("shape", [(16, 16), (13, 18), (3, 12, 12)])
@pytest.mark.parametrize("porosity", [None, 0.0, 0.25, 0.8])
@pytest.mark.parametrize("seed", [0, 1])
def test_inpaint_exact_region_count_and_untouched_rest(rock_dir, shape, porosity, seed):
    scan = _scan(shape, seed)
    mask = np.zeros(shape, bool)
    mask[..., 2:9, 3:11] = True
    res = microgen.inpaint(scan, mask, model=rock_dir, porosity=porosity, seed=seed, steps=8, device="cpu")
    assert res.images.shape == scan.shape and res.images.dtype == np.uint8
    assert np.array_equal(res.images[~mask], scan[~mask])  # bit for bit
    assert set(np.unique(res.images)) <= {0, 1}
    stack_img = res.images.reshape(-1, *shape[-2:])
    stack_scan = scan.reshape(-1, *shape[-2:])
    region = int(mask.reshape(-1, *shape[-2:])[0].sum())
    for img, orig, counts in zip(stack_img, stack_scan, res.counts):
        rest = orig[~mask.reshape(-1, *shape[-2:])[0]]
        f = float(rest.mean()) if porosity is None else porosity
        want = int(np.floor(f * region + 0.5))
        assert counts == {"pore": want}
        assert int((img[mask.reshape(-1, *shape[-2:])[0]] == 1).sum()) == want


def test_inpaint_cathode_fractions_and_reproducibility(cathode_dir):
    scan = _scan((16, 16), 3, codes=(0, 1, 2))
    mask = np.zeros(scan.shape, bool)
    mask[4:12, 4:12] = True
    kw = dict(model=cathode_dir, fractions={"active": 0.5, "binder": 0.125}, seed=5, steps=6, device="cpu")
    a = microgen.inpaint(scan, mask, **kw)
    b = microgen.inpaint(scan, mask, **kw)
    assert np.array_equal(a.images, b.images)
    assert int((a.images[mask] == 1).sum()) == 32 and int((a.images[mask] == 2).sum()) == 8
    assert np.array_equal(a.images[~mask], scan[~mask])


@pytest.mark.parametrize(
    "mask_fn, kwargs, match",
    [
        (lambda m: m, {}, "mask is empty"),
        (lambda m: ~m, {}, "covers a whole image"),
        (lambda m: m[:-1], {}, "must equal the image shape"),
        (None, {"porosity": 1.5}, r"in \[0, 1\]"),
        (None, {"fractions": {"active": 0.2}}, r"unknown phase\(s\) \['active'\] for a rock model; phases: \['pore'\]"),
        (None, {"fractions": {}}, r"missing \['pore'\]"),
        (None, {"porosity": float("nan")}, r"in \[0, 1\]"),
        (None, {"porosity": 0.2, "fractions": {"pore": 0.2}}, "not both"),
    ],
)
def test_inpaint_bad_input(rock_dir, mask_fn, kwargs, match):
    scan = _scan((16, 16), 0)
    mask = np.zeros(scan.shape, bool)
    if mask_fn is not None:
        mask = mask_fn(mask)
    else:
        mask[2:6, 2:6] = True
    with pytest.raises(ValueError, match=match):
        microgen.inpaint(scan, mask, model=rock_dir, device="cpu", **kwargs)


def test_inpaint_refuses_unknown_labels_and_oversized_requests(cathode_dir, rock_dir):
    mask = np.zeros((16, 16), bool)
    mask[2:6, 2:6] = True
    with pytest.raises(ValueError, match=r"labels \[7\] that are not rock phases"):
        microgen.inpaint(np.full((16, 16), 7, np.uint8), mask, model=rock_dir, device="cpu")
    three = np.zeros((16, 16), bool)
    three[5, 5:8] = True  # 0.5 of 3 voxels rounds to 2, twice: 4 > 3
    with pytest.raises(ValueError, match="exceed the 3 voxels"):
        microgen.inpaint(
            _scan((16, 16), 1, (0, 1, 2)), three, model=cathode_dir, fractions={"active": 0.5, "binder": 0.5}
        )


def test_inpaint_cli(tmp_path, rock_dir):
    scan = _scan((16, 16), 2)
    mask = np.zeros(scan.shape, np.uint8)
    mask[3:10, 3:10] = 1
    tifffile.imwrite(tmp_path / "scan.tif", scan)
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    base = ["inpaint", str(tmp_path / "scan.tif"), "--mask", str(tmp_path / "mask.tif"), "--model", str(rock_dir)]
    res = CliRunner().invoke(main, base + ["--porosity", "0.4", "--steps", "6", "-o", str(tmp_path / "out.tif")])
    assert res.exit_code == 0, res.output
    out = tifffile.imread(tmp_path / "out.tif")
    assert int((out[mask > 0] == 1).sum()) == round(0.4 * 49) and np.array_equal(out[mask == 0], scan[mask == 0])
    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros_like(mask))
    res = CliRunner().invoke(main, base[:3] + [str(empty), "--model", str(rock_dir), "-o", str(tmp_path / "x.tif")])
    assert res.exit_code == 2 and "mask is empty" in res.output and not (tmp_path / "x.tif").exists()


def _class_model(any_class: bool):
    net = NetworkConfig(channels=1, width=8, mults=[1, 2], num_classes=3 + any_class, count_scale=8.0, periodic=False)
    proc = ProcessConfig(r=10.0, boundary="noflux", schedule=Schedule("power", 50, 3.0))
    return DSDModel(net, proc, meta={"classes": ["a", "b", "c"], "any_class": any_class}).eval()


@pytest.mark.parametrize("totals", [[0], [5], [40], [300]])
def test_intensity_images_hold_exact_totals(totals):
    """Many particles per pixel: no exclusion, no collision resolution, exact totals."""
    res = microgen.generate_counts(_class_model(True), totals, shape=(8, 8), n=3, label="b", seed=1, steps=12)
    assert res.images.shape == (3, 1, 8, 8)
    assert res.images.reshape(3, -1).sum(1).tolist() == totals * 3
    if totals[0] == 300:
        assert res.images.max() > 1  # more particles than pixels: stacking is the point


@pytest.mark.parametrize("totals, n, match", [([-1], 1, ">= 0"), ([2.5], 1, "integers"), ([3], 0, "n must be")])
def test_intensity_bad_input(totals, n, match):
    with pytest.raises(ValueError, match=match):
        microgen.generate_counts(_class_model(True), totals, shape=(8, 8), n=n, steps=4)


def test_class_labels_by_name_index_or_any():
    model = _class_model(True)
    a = microgen.generate_counts(model, [[20], [20]], shape=(8, 8), label=["a", 2], seed=0, steps=6)
    b = microgen.generate_counts(model, [[20], [20]], shape=(8, 8), label=[0, "c"], seed=0, steps=6)
    assert np.array_equal(a.images, b.images)
    microgen.generate_counts(model, [20], shape=(8, 8), seed=0, steps=6)  # "any class"
    with pytest.raises(ValueError, match=r"unknown class 'z'; classes of this model: \['a', 'b', 'c'\]"):
        microgen.generate_counts(model, [20], shape=(8, 8), label="z", steps=6)
    with pytest.raises(ValueError, match="class-conditioned: pass a label"):
        microgen.generate_counts(_class_model(False), [20], shape=(8, 8), steps=6)
    with pytest.raises(ValueError, match="not class-conditioned"):
        microgen.generate_counts(tiny_model(), [20], shape=(8, 8), label="a", steps=6)


def test_train_cli_classes(tmp_path):
    for name, seed in (("one", 0), ("two", 1)):
        tifffile.imwrite(tmp_path / f"{name}.tif", _scan((4, 16, 16), seed), photometric="minisblack")
    args = ["train", "--data", str(tmp_path / "one.tif"), "--data", str(tmp_path / "two.tif"), "--kind", "rock"]
    args += ["--crop", "8", "--steps", "2", "--batch", "2", "--width", "8", "--holdout", "0", "--r", "10"]
    res = CliRunner().invoke(main, args + ["--classes", "one,two", "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    model = DSDModel.load(tmp_path / "m")
    assert model.meta["classes"] == ["one", "two"] and model.network_config.num_classes == 3
    gen = microgen.generate(model, {"pore": 0.25}, shape=(8, 8), n=2, label="two", steps=4, device="cpu")
    assert (gen.images == 1).sum(axis=(1, 2)).tolist() == [16, 16]
    res = CliRunner().invoke(main, args + ["--classes", "one", "--out", str(tmp_path / "n")])
    assert res.exit_code == 2 and "one distinct name per --data" in res.output
