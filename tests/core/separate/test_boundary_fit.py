"""The mark's opacity and colour from pixel pairs across its edge."""

from __future__ import annotations

import numpy as np
from conftest import marked

from pipeline.core.separate.boundary_fit import edge_pairs, fit_blend


def test_opacity_and_colour_are_read_off_the_edge():
    for opacity, name in ((0.3, "coffee"), (0.5, "chelsea")):
        observed, truth, _ = marked(opacity, name)
        footprint = np.abs(observed - truth).max(axis=0) > opacity * 0.3
        fit = fit_blend(edge_pairs(observed, footprint))
        assert fit is not None
        assert abs(fit.opacity - opacity) < 0.05
        np.testing.assert_allclose(fit.colour, 1.0, atol=0.06)


def test_no_edge_no_answer():
    observed, _, _ = marked(0.4)
    assert fit_blend(edge_pairs(observed, np.zeros(observed.shape[1:], bool))) is None
