"""glyph: generate, imitate and restore CJK character images.

The public API for users and plugin authors. Importing glyph is cheap (no torch); methods import
torch themselves.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import threads
from .api import Evaluation, Restorer, Sampler, Trained, Writer, evaluate, load, train
from .dataset import DatasetFormat, GlyphData
from .errors import GlyphError, PluginError
from .events import RunInfo
from .hookspecs import hookimpl
from .loader import get_registry
from .method import Method, Opt, RunContext, RunReport
from .metric import Metric
from .registry import DISTRIBUTION
from .resources import resolve_input

# Before anything can import torch: OpenMP reads its wait policy once, when torch loads it (see glyph.threads).
threads.prepare_environment()

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def get_method(name: str) -> type[Method]:
    """The Method class registered as ``name`` (raises GlyphError with a did-you-mean if unknown)."""
    return get_registry().method(name).obj


__all__ = [
    "DatasetFormat",
    "Evaluation",
    "GlyphData",
    "GlyphError",
    "Method",
    "Metric",
    "Opt",
    "PluginError",
    "Restorer",
    "RunContext",
    "RunInfo",
    "RunReport",
    "Sampler",
    "Trained",
    "Writer",
    "__version__",
    "evaluate",
    "get_method",
    "get_registry",
    "hookimpl",
    "load",
    "resolve_input",
    "threads",
    "train",
]
