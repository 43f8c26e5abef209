import numpy as np
import pytest

from microgen.engine import Schedule


def test_logit_schedule_matches_eq2_endpoints():
    s = Schedule("logit", 2000, tau1=7.5, tau2=2.5)
    t = s.times()
    assert t[0] == 0 and t[-1] == 1.0
    assert np.all(np.diff(t) > 0)
    # k = 1 gives exp(-tau2 t_1) = 1 - exp(-tau1)
    np.testing.assert_allclose(t[1], -np.log1p(-np.exp(-7.5)) / 2.5, rtol=1e-9)


def test_power_schedule():
    t = Schedule("power", 10, power=4).times()
    np.testing.assert_allclose(t, (np.arange(11) / 10) ** 4)


@pytest.mark.parametrize("kwargs", [{"kind": "cosine"}, {"steps": 1}, {"power": 0}])
def test_bad_schedules(kwargs):
    with pytest.raises(ValueError):
        Schedule(**kwargs)
