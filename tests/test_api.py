import numpy as np
import pytest

import microgen
from microgen.api import exact_count
from microgen.engine.polish import SWEEPS
from microgen.engine.prior import SpectralPrior
from microgen.engine.sampler import DEFAULT_EVALUATIONS, model_sampler, offsets_used


@pytest.mark.parametrize("shape", [(8, 8), (12, 20), (6, 4)])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fractions", [{"active": 0.5, "binder": 0.1}, {"active": 0.07, "binder": 0.31}])
def test_cathode_counts_are_exact(cathode_dir, shape, seed, fractions):
    with pytest.warns(UserWarning, match="outside the training range") if fractions["active"] < 0.3 else _nothing():
        gen = microgen.generate(cathode_dir, fractions, shape=shape, n=2, seed=seed, steps=10, device="cpu")
    voxels = int(np.prod(shape))
    for img in gen.images:
        assert img.dtype == np.uint8 and set(np.unique(img)) <= {0, 1, 2}
        assert (img == 1).sum() == exact_count(fractions["active"], voxels)
        assert (img == 2).sum() == exact_count(fractions["binder"], voxels)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_rock_api_and_reproducibility(rock_dir):
    a = microgen.generate_rock(0.19, rock=str(rock_dir), shape=(16, 16), n=3, seed=5, steps=10, device="cpu")
    b = microgen.generate_rock(0.19, rock=str(rock_dir), shape=(16, 16), n=3, seed=5, steps=10, device="cpu")
    c = microgen.generate_rock(0.19, rock=str(rock_dir), shape=(16, 16), n=3, seed=6, steps=10, device="cpu")
    assert a.shape == (3, 16, 16) and (a.sum(axis=(1, 2)) == exact_count(0.19, 256)).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    per_image = microgen.generate(rock_dir, [{"pore": 0.1}, {"pore": 0.3}], shape=(16, 16), seed=0, steps=6)
    assert [int(im.sum()) for im in per_image.images] == [exact_count(0.1, 256), exact_count(0.3, 256)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fractions": {"active": 0.7, "binder": 0.3}}, "sum to >= 1"),
        ({"fractions": {"active": -0.1, "binder": 0.1}}, r"\(0, 1\)"),
        ({"fractions": {"active": 0.5}}, "missing"),
        ({"fractions": {"active": 0.5, "binder": 0.1, "carbon": 0.1}}, "unknown phase"),
        ({"n": 0}, "n must be"),
        ({"shape": (1, 8)}, "at least the network stride"),
        ({"sampler": "euler"}, "trapezoidal.*multistep.*poisson.*binomial"),
        ({"steps": 7}, "even"),
        ({"steps": 0}, ">= 1"),
        ({"precision": "int8"}, "float32.*bfloat16"),
        ({"sharpness": {"active": 1.1}}, "one value for each particle phase of this model \\('active', 'binder'\\)"),
        ({"sharpness": {"active": 1.1, "binder": 1, "carbon": 1}}, "'active', 'binder'"),
        ({"sharpness": (1.1, 1.0, 1.0)}, r"one value per particle channel \(2\)"),
        ({"sharpness": {"active": 0, "binder": 1}}, "finite number > 0"),
        ({"offsets": "moving"}, r"offsets must be one of \('auto', 'stride', 'fixed'\)"),
    ],
)
def test_bad_input(cathode_dir, kwargs, match):
    args = {"fractions": {"active": 0.5, "binder": 0.1}, "shape": (8, 8)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        microgen.generate(cathode_dir, args.pop("fractions"), **args)


def test_offsets_choice_is_exact_and_reported(rock_dir):
    runs = {
        o: microgen.generate(rock_dir, {"pore": 0.3}, shape=(16, 16), n=2, seed=3, steps=6, offsets=o)
        for o in ("auto", "fixed", "stride")
    }
    for offsets, res in runs.items():
        assert (res.images.sum(axis=(1, 2)) == exact_count(0.3, 256)).all()
        assert res.sampler.endswith("fixed offsets" if offsets != "stride" else "stride offsets")
    assert np.array_equal(runs["auto"].images, runs["fixed"].images)  # this model was not calibrated with them
    from tests.helpers import tiny_model

    assert offsets_used(tiny_model(boundary="noflux"), "stride") == "fixed"  # a no-flux lattice never shifts
    with pytest.raises(ValueError, match="offsets must be one of"):
        microgen.inpaint(runs["auto"].images[0], np.ones((16, 16), bool), model=rock_dir, offsets="moving")


def test_unknown_rock_names_the_choices(rock_dir):
    with pytest.raises(ValueError, match="Savonnieres"):
        microgen.generate_rock(0.2, rock="savonnieres")
    with pytest.raises(ValueError, match="unknown model"):
        microgen.generate_rock(0.2, rock=str(rock_dir.parent / "nowhere"))


def test_former_names_answer_with_the_model_that_replaced_them():
    from microgen.domains import registry

    for old, new in registry.ALIASES.items():
        assert old not in registry.available()  # one folder per model: a former name is no second copy
        if new not in registry.available():
            continue
        assert registry.resolve(old) == registry.resolve(new) and registry.is_pretrained(old)
        assert microgen.load_model(old).meta["name"] == new
        assert registry.reference(old, 256)["n"] == registry.reference(new, 256)["n"]
    assert not registry.is_pretrained("nope")


def test_rock_model_refused_for_cathode(rock_dir):
    with pytest.raises(ValueError, match="not a cathode model"):
        microgen.generate_cathode({"active": 0.5, "binder": 0.1}, model=str(rock_dir))


@pytest.mark.parametrize("sampler, steps", [("trapezoidal", 8), ("poisson", 7)])
def test_sampler_choice_sets_the_evaluation_budget(rock_dir, sampler, steps):
    gen = microgen.generate(
        rock_dir, {"pore": 0.3}, shape=(16, 16), n=2, seed=1, sampler=sampler, steps=steps, precision="float32"
    )
    assert gen.evaluations == steps
    assert gen.sampler.startswith({"trapezoidal": "TrapezoidalLeaping", "poisson": "PoissonLeaping"}[sampler])
    assert gen.sampler.endswith("float32, sharpness 1, prior uniform, fixed offsets")
    assert all((im == 1).sum() == exact_count(0.3, 256) for im in gen.images)


def test_calibrated_sampling_defaults_are_used_unless_overridden():
    from tests.helpers import tiny_model

    model = tiny_model(channels=1)
    model.meta.update({"kind": "rock"})

    def run(**kw):
        return microgen.generate(model, {"pore": 0.3}, shape=(16, 16), n=2, seed=4, steps=10, **kw)

    plain = run()
    assert plain.polish == SWEEPS and plain.sampler.endswith("sharpness 1, prior uniform, fixed offsets")
    assert plain.islands == 0 and plain.holes == 0 and not any(plain.dissolved)
    model.meta["sampling"] = {"sharpness": 1.3, "polish": 0, "islands": 6}
    tuned = run()
    assert (
        tuned.polish == 0
        and tuned.sampler.endswith("sharpness 1.3, prior uniform, fixed offsets")
        and not any(tuned.swapped)
    )
    assert tuned.islands == 6 and any(tuned.dissolved)  # an untrained tiny model leaves islands
    assert all((im == 1).sum() == exact_count(0.3, 256) for im in tuned.images)
    assert np.array_equal(tuned.images, run(sharpness=1.3, polish=0, islands=6).images)
    assert np.array_equal(run(sharpness=1.0, polish=SWEEPS, islands=0).images, plain.images)  # explicit values win
    model.meta["sampling"]["holes"] = 6
    holed = run()
    assert holed.holes == 6 and sum(holed.dissolved) > sum(tuned.dissolved)  # and grain specks inside pores
    assert all((im == 1).sum() == exact_count(0.3, 256) for im in holed.images)
    assert np.array_equal(run(holes=0).images, tuned.images)
    del model.meta["sampling"]["holes"]
    model.meta["sampling"]["smooth"] = 1.5
    smoothed = run()
    assert smoothed.smooth == (1.5,) and any(smoothed.smoothed)
    assert all((im == 1).sum() == exact_count(0.3, 256) for im in smoothed.images)
    assert np.array_equal(run(smooth=0).images, tuned.images) and run(smooth="0").smooth == (0.0,)
    with pytest.raises(ValueError, match="smoothing widths must be finite numbers >= 0"):
        run(smooth=-1)
    del model.meta["sampling"]["smooth"]
    filled = microgen.inpaint(plain.images[0], np.pad(np.ones((8, 8), bool), 4), model=model, seed=1, steps=10)
    assert filled.polish == SWEEPS and filled.sharpness == 1.0  # inpainting keeps the rates as trained
    assert filled.islands == 0
    with pytest.raises(ValueError, match="island size must be an integer >= 0"):
        run(islands=-1)
    with pytest.raises(ValueError, match="hole size must be an integer >= 0"):
        run(holes=-1)
    with pytest.raises(ValueError, match="sharpness must be a finite number > 0"):
        run(sharpness=-2)
    model.meta["prior"] = SpectralPrior([0.05, 0.5], [[[30.0]], [[30.0]]]).to_dict()
    spectral = run()
    assert "prior spectral," in spectral.sampler and "prior uniform," in run(prior="uniform").sampler
    assert not np.array_equal(spectral.images, run(prior="uniform").images)
    assert all((im == 1).sum() == exact_count(0.3, 256) for im in spectral.images)
    hole = np.pad(np.ones((8, 8), bool), 4)
    auto = microgen.inpaint(plain.images[0], hole, model=model, seed=1, steps=10)
    uniform = microgen.inpaint(plain.images[0], hole, model=model, seed=1, steps=10, prior="uniform")
    assert np.array_equal(auto.images, uniform.images)  # inpainting starts uniform
    with pytest.raises(ValueError, match="inpainting starts uniform"):
        microgen.inpaint(plain.images[0], hole, model=model, steps=10, prior="spectral")


def test_the_model_s_calibrated_evaluations_are_the_default_budget():
    from tests.helpers import tiny_model

    model = tiny_model(channels=1)
    model.meta.update({"kind": "rock"})
    assert model.sampling_steps == DEFAULT_EVALUATIONS  # no calibration stored
    model.meta["sampling"] = {"steps": 12}
    assert model.sampling_steps == 12
    gen = microgen.generate(model, {"pore": 0.3}, shape=(16, 16), seed=4)
    assert gen.evaluations == 12 and gen.sampler.startswith("TrapezoidalLeaping(steps=6,")
    assert microgen.generate(model, {"pore": 0.3}, shape=(16, 16), seed=4, steps=8).evaluations == 8  # explicit wins
    counts = microgen.generate_counts(model, 40, shape=(16, 16), seed=4)
    assert counts.evaluations == 12 and counts.images.sum() == 40
    # inpainting with a generation model keeps the generation-independent default; a dedicated model its own
    image, hole = gen.images[0], np.pad(np.ones((8, 8), bool), 4)
    assert microgen.inpaint(image, hole, model=model, seed=1).evaluations == DEFAULT_EVALUATIONS
    model.meta["inpainting"] = {"holes": [8, 8]}
    assert microgen.inpaint(image, hole, model=model, seed=1).evaluations == 12


def test_the_model_s_one_hop_tail_is_used_by_its_trapezoidal_rule():
    from tests.helpers import tiny_model

    model = tiny_model(channels=1)
    model.meta.update({"kind": "rock"})
    assert model.sampling_tail == 0
    model.meta["sampling"] = {"steps": 12, "tail": 4}
    rule = model_sampler(model)
    assert (rule.steps, rule.tail) == (8, 4)  # 4 trapezoidal steps (8 evaluations) and 4 one-hop steps
    assert not hasattr(model_sampler(model, "multistep"), "tail")
    gen = microgen.generate(model, {"pore": 0.3}, shape=(16, 16), seed=4)
    assert gen.evaluations == 12 and "tail=4" in gen.sampler
    assert (gen.images[0] == 1).sum() == exact_count(0.3, 256)
    assert microgen.generate(model, {"pore": 0.3}, shape=(16, 16), seed=4, steps=20).evaluations == 20
    with pytest.raises(ValueError, match="steps \\+ tail must be even"):
        microgen.generate(model, {"pore": 0.3}, shape=(16, 16), seed=4, steps=9)


def test_cathode_sharpness_by_phase_name_equals_the_channel_tuple(cathode_dir):
    def run(sharpness):
        return microgen.generate_cathode(
            {"active": 0.5, "binder": 0.1},
            model=str(cathode_dir),
            shape=(16, 16),
            seed=3,
            steps=6,
            sharpness=sharpness,
            device="cpu",
        )

    by_name = run({"binder": 1.0, "active": 1.3})  # any order: matched by name
    assert np.array_equal(by_name, run((1.3, 1.0))) and np.array_equal(by_name, run("1.3/1"))
    assert [int((by_name[0] == p).sum()) for p in (1, 2)] == [exact_count(0.5, 256), exact_count(0.1, 256)]
    assert not np.array_equal(by_name, run(1.3))  # the binder's exponent really is its own
