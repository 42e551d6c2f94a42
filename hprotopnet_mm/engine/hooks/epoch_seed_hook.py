"""Random numbers that do not depend on whether a run was interrupted.

MMEngine seeds the random generators once per process. A run resumed from a
checkpoint seeds them again from the start, so the epochs after the resume
draw other random numbers (augmentation in the main process, dropout) than
the uninterrupted run. :class:`EpochSeedHook` seeds them at the start of every
training epoch from (seed, epoch), so an epoch draws the same numbers whether
or not the run was interrupted before it. :func:`seeded_rng` does the same
for a phase that runs inside a hook (the last-layer phase) and restores the
generators afterwards.

Data loader workers seed themselves (MMEngine's ``worker_init_fn``) when they
start; with ``persistent_workers=True`` they start once per process, so
augmentation in workers after a resume still differs from the uninterrupted
run. Configs that need bit-identical resumes use ``persistent_workers=False``
(workers restart, and reseed, every epoch).
"""
import contextlib
import random
from typing import Iterator

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from mmaction.registry import HOOKS

# Purposes of derived seeds; part of the derivation, so never renumber.
EPOCH_SEED = 0
LAST_LAYER_SEED = 1


def derive_seed(seed: int, *keys: int) -> int:
    """A seed in [0, 2**31) derived from ``seed`` and integer ``keys``.

    Args:
        seed (int): The run's base seed.
        *keys (int): Non-negative integers naming the purpose, e.g.
            ``(EPOCH_SEED, epoch)``.

    Returns:
        int: The derived seed; equal inputs give equal seeds.
    """
    state = np.random.SeedSequence([int(seed), *map(int, keys)])
    return int(state.generate_state(1)[0] >> 1)


def base_seed(runner) -> int:
    """The run's seed before MMEngine adds the rank (``diff_rank_seed``)."""
    randomness = runner.cfg.get('randomness') or {}
    seed = runner.seed
    if randomness.get('diff_rank_seed', False):
        seed -= get_rank()
    return seed


def rank_seed(runner, *keys: int) -> int:
    """A seed derived from the run's seed and ``keys``, per rank when the
    config asks for different seeds on different ranks."""
    randomness = runner.cfg.get('randomness') or {}
    if randomness.get('diff_rank_seed', False):
        keys = keys + (get_rank(), )
    return derive_seed(base_seed(runner), *keys)


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Seed python, numpy and torch (CPU and CUDA) generators for a block
    and restore their previous states after it."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    devices = list(range(torch.cuda.device_count())) \
        if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        set_random_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed the random generators at the start of every training epoch.

    The seed of epoch e is derived from the run's seed and e (and the rank
    when ``randomness.diff_rank_seed`` is set), so a run resumed at epoch e
    draws the same random numbers from there on as an uninterrupted run.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        set_random_seed(rank_seed(runner, EPOCH_SEED, runner.epoch))
