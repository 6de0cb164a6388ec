"""Spectral instrument against numpy's eigenvalues and singular values."""

import numpy as np
import pytest
import torch

from rnnstudy.config import ModelConfig
from rnnstudy.instruments.spectrum import spectrum
from rnnstudy.models import RecurrentNet


@pytest.mark.parametrize("cell,gates", [("rnn", None), ("lstm", "ifgo"), ("gru", "rzn")])
def test_spectrum_matches_numpy(cell, gates):
    torch.manual_seed(1)
    m = RecurrentNet(
        ModelConfig(cell=cell, hidden_size=7, num_layers=2, bidirectional=True), 3, 2, "last"
    )
    s = spectrum(m)
    for li, layer in enumerate(m.layers):
        for sfx in ("", "_reverse"):
            w = getattr(layer, f"weight_hh_l0{sfx}").detach().double().numpy()
            name = f"weight_hh_l{li}{sfx}"
            assert s[f"spectral/{name}/sigma_max"] == pytest.approx(
                np.linalg.svd(w, compute_uv=False)[0], rel=1e-9
            )
            if gates is None:
                assert s[f"spectral/{name}/radius"] == pytest.approx(
                    np.abs(np.linalg.eigvals(w)).max(), rel=1e-9
                )
                continue
            for g, block in zip(gates, np.split(w, len(gates)), strict=True):
                assert s[f"spectral/{name}.{g}/radius"] == pytest.approx(
                    np.abs(np.linalg.eigvals(block)).max(), rel=1e-9
                )
                assert s[f"spectral/{name}.{g}/sigma_max"] == pytest.approx(
                    np.linalg.svd(block, compute_uv=False)[0], rel=1e-9
                )
