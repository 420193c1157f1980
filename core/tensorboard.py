"""An optional TensorBoard logger, a plugin like any other: active when ``tensorboard`` is installed
(``pip install 'glyph[tensorboard]'``) unless ``GLYPH_TENSORBOARD=0``. Writes ``RUN/tensorboard/``
from rank 0: every logged metric as a scalar, and the newest sample grid at each checkpoint."""

from __future__ import annotations

import os
from typing import Any

import glyph

_writers: dict[str, Any] = {}


def _enabled(run: Any) -> bool:
    if os.environ.get("GLYPH_TENSORBOARD", "1") == "0" or run.rank != 0:
        return False
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


@glyph.hookimpl
def glyph_train_start(run):
    """Open a writer in the run folder."""
    if _enabled(run):
        from torch.utils.tensorboard import SummaryWriter

        _writers[str(run.run_dir)] = SummaryWriter(str(run.run_dir / "tensorboard"), purge_step=run.start_step + 1)


@glyph.hookimpl
def glyph_train_step(run, step, metrics):
    """Log every number."""
    w = _writers.get(str(run.run_dir))
    if w is not None:
        for key, value in metrics.items():
            if key != "step":
                w.add_scalar(key, value, step)


@glyph.hookimpl
def glyph_checkpoint_saved(run, step, path):
    """Log the newest sample grid and flush, so TensorBoard shows what the checkpoint holds."""
    w = _writers.get(str(run.run_dir))
    if w is None:
        return
    grids = sorted((run.run_dir / "samples").glob("step-*.png"))
    if grids:
        import numpy as np
        from PIL import Image

        with Image.open(grids[-1]) as im:
            w.add_image("samples", np.asarray(im.convert("L")), step, dataformats="HW")
    w.flush()


@glyph.hookimpl
def glyph_train_end(run, step, reason):
    """Close the writer."""
    w = _writers.pop(str(run.run_dir), None)
    if w is not None:
        w.close()
