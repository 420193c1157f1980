"""The glyph plugin contract: every hook a plugin may implement, on one page.

A plugin is a module (or object) exposed in the ``glyph`` entry-point group. It implements any of the
hooks below with ``@glyph.hookimpl``; pluggy lets an implementation accept fewer arguments than the
spec, so adding an argument here never breaks a plugin. Names a plugin misspells are caught by
``check_pending`` when glyph loads it.

Registration hooks receive a ``register`` callback rather than returning lists (as in simonw/llm):
glyph records which plugin registered what, rejects duplicate names, and can grow keyword arguments
without new hooks. Trainer event hooks only observe; they must not change the objects they are given.
See docs/plugins/hooks.md for the roles (Method, DatasetFormat, Metric) these hooks register.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("glyph")
hookimpl = pluggy.HookimplMarker("glyph")


@hookspec
def glyph_register_methods(register):
    """Register methods (generators, restorers, post-processors).

    :param register: ``register(method_cls, **catalogue)``. ``method_cls`` is a subclass of
        :class:`glyph.Method` with a unique ``name``, or a reference ``"package.module:Class"`` with
        ``name=`` given: then the module (and whatever it imports, torch included) is imported only when the
        method is used, and ``glyph --help`` and ``glyph list`` stay fast. Optional catalogue keywords describe
        it in ``glyph list`` / ``glyph info``: ``summary``, ``task``, ``paper``, ``upstream``, ``status``,
        ``presets`` (a mapping preset name -> overrides of the method's Config fields) and, for a reference,
        ``trainable=False`` for a method that does not train. glyph's own methods take these from
        ``registry.toml`` and register by reference.
    """


@hookspec
def glyph_register_datasets(register):
    """Register dataset formats: readers (and optionally writers) of an on-disk layout.

    :param register: ``register(format_cls)`` with a subclass of :class:`glyph.DatasetFormat`
        whose ``name`` is unique (e.g. ``writers``, ``packed``), or a reference as for methods.
    """


@hookspec
def glyph_register_metrics(register):
    """Register evaluation metrics.

    :param register: ``register(metric_cls)`` with a subclass of :class:`glyph.Metric` whose
        ``name`` is unique (e.g. ``fgd``, ``ssim``), or ``register("package.module:Class", name=...)``
        to import it only when an evaluation uses it.
    """


@hookspec
def glyph_register_commands(register):
    """Add top-level CLI commands.

    :param register: ``register(command, name=None)``. ``command`` is a ``typer.Typer`` app or a
        function typed like a Typer command; it appears as ``glyph NAME`` (``name`` defaults to the
        function's name). Names of glyph's built-in commands cannot be taken.
    """


@hookspec
def glyph_train_start(run):
    """Training is about to take its first step (also after ``--resume``).

    :param run: a :class:`glyph.RunInfo`: method name, run folder, resolved config, device, rank,
        world size and the step training starts from.
    """


@hookspec
def glyph_train_step(run, step, metrics):
    """A training step finished and its numbers were logged (fires at the logging cadence).

    :param run: the :class:`glyph.RunInfo` of this run.
    :param step: the number of optimisation steps completed so far.
    :param metrics: ``dict[str, float]`` of losses and rates for this step (already on the CPU).
    """


@hookspec
def glyph_checkpoint_saved(run, step, path):
    """A checkpoint was written completely (it is loadable when this fires).

    :param run: the :class:`glyph.RunInfo` of this run.
    :param step: the step the checkpoint holds.
    :param path: ``pathlib.Path`` of the checkpoint folder.
    """


@hookspec
def glyph_train_end(run, step, reason):
    """Training stopped.

    :param run: the :class:`glyph.RunInfo` of this run.
    :param step: the last step completed.
    :param reason: ``"finished"``, ``"interrupted"`` (Ctrl-C), ``"budget"`` (the ``--minutes``
        wall-clock budget ran out), ``"diverged"`` (non-finite losses) or ``"failed"`` (an error stopped it; it
        goes on to the caller after this hook, and a run that never saved is then removed: close what you
        opened in the run folder).
    """
