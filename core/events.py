"""Trainer events: the run description passed to observers, and isolated notification."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    """What observers of training are told about the run (see the ``glyph_train_*`` hooks).

    :param method: the method's registered name.
    :param run_dir: the run folder.
    :param config: the resolved config as a plain dict.
    :param device: the torch device in use, as a string.
    :param rank: this process's rank (0 when not distributed); only rank 0 writes files.
    :param world_size: the number of processes training together.
    :param start_step: the step training starts (or resumes) from.
    """

    method: str
    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    rank: int = 0
    world_size: int = 1
    start_step: int = 0
