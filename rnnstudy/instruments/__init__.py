"""The instruments (DESIGN §1, §4): one class per file behind the protocol in ``base``, read
from the step record (``record``), driven by ``driver.Instruments``.

``INSTRUMENTS`` is the registry: name -> class. Each class maps its ``probe:`` switch to an
instance in ``from_config``; ``from_config`` below builds a run's driver from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnstudy.instruments.base import Instrument
from rnnstudy.instruments.clipping import GradNorms
from rnnstudy.instruments.credit import Credit
from rnnstudy.instruments.driver import Instruments
from rnnstudy.instruments.gradtime import GradTime
from rnnstudy.instruments.lyapunov import Lyapunov
from rnnstudy.instruments.propagation import Propagation
from rnnstudy.instruments.spectrum import Spectrum

INSTRUMENTS: dict[str, type[Instrument]] = {
    cls.name: cls for cls in (GradNorms, GradTime, Credit, Propagation, Lyapunov, Spectrum)
}


def from_config(cfg: Any, out_dir: Path | None = None) -> Instruments:
    """The driver with every registered instrument the run config switches on; arrays go under
    ``out_dir`` (the runner logs that folder to the run once training is over)."""
    chosen = [cls.from_config(cfg) for cls in INSTRUMENTS.values()]
    return Instruments([i for i in chosen if i is not None], out_dir, seed=cfg.seed)


__all__ = ["INSTRUMENTS", "Instrument", "Instruments", "from_config"]
