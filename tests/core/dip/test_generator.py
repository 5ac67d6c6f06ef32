from __future__ import annotations

import dataclasses

import pytest
import torch

from pipeline.core.dip.generator import build_skip, size_multiple
from pipeline.errors import InputError
from pipeline.settings import DEFAULT, FAST, REFERENCE, DipSettings, RunOptions, preset


def test_reference_network_is_the_published_one():
    net = build_skip(REFERENCE.network)
    assert sum(p.numel() for p in net.parameters()) == 502_851
    assert (REFERENCE.steps, REFERENCE.lr, REFERENCE.reg_noise) == (3000, 0.01, 0.03)
    assert REFERENCE.network.input_depth == 32 and REFERENCE.max_side == 512


@pytest.mark.parametrize("settings", [DEFAULT, REFERENCE])
def test_output_matches_input_size_and_range(settings):
    height = 2 * size_multiple(settings.network)
    width = 3 * size_multiple(settings.network)
    net = build_skip(settings.network, out_channels=4)
    with torch.no_grad():
        out = net(torch.rand(1, settings.network.input_depth, height, width))
    assert out.shape == (1, 4, height, width)
    assert 0 <= float(out.min()) and float(out.max()) <= 1


def test_settings_fingerprint_follows_results_not_runtime():
    # Runtime options live apart (RunOptions), and the hash ledgers stored stays the same.
    runtime = {field.name for field in dataclasses.fields(RunOptions)}
    assert not runtime & {field.name for field in dataclasses.fields(DipSettings)}
    # the reference's pixels never change, so neither does its hash; the default's and fast's
    # did (the texture stage), so their finished jobs are redone
    assert REFERENCE.fingerprint() == "75c3d96fe17ca992"
    assert DEFAULT.fingerprint() != "baa710e93d1b41f0"
    assert FAST.fingerprint() != "a6d784f0c6ad72de"
    assert DEFAULT.fingerprint() != DEFAULT.with_overrides(steps=7).fingerprint()
    with pytest.raises(InputError, match="unknown setting"):
        DEFAULT.with_overrides(stpes=7)
    with pytest.raises(InputError, match="unknown preset 'best'"):
        preset("best")
