"""Learning-rate schedules (`cnnzoo.training.schedules`) not covered by the recipe tests."""

from __future__ import annotations

import numpy as np
import pytest

from cnnzoo.training.schedules import WarmupLinearDecay


def test_warmup_linear_decay_shape_and_serialization():
    s = WarmupLinearDecay(0.2, warmup_steps=10, total_steps=30, start=0.02)
    got = [float(s(i)) for i in (0, 5, 10, 20, 29, 30, 40)]
    np.testing.assert_allclose(got, [0.02, 0.11, 0.2, 0.1, 0.01, 0.0, 0.0], atol=1e-7)
    again = WarmupLinearDecay.from_config(s.get_config())
    assert float(again(15)) == pytest.approx(float(s(15)))
    assert float(WarmupLinearDecay(0.1, 0, 4)(0)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        WarmupLinearDecay(0.1, warmup_steps=5, total_steps=5)
