"""Checkpoints written outside MMEngine's ``CheckpointHook``: resume points.

MMEngine's ``CheckpointHook`` writes the regular checkpoints at the end of an
epoch. The steps that run after an epoch's training, inside
``PrototypeProjectionHook`` (projection, last-layer phase), need checkpoints
of their own so that a run killed inside them resumes exactly; this module
is the one place that writes those. A resume point is a regular
``runner.save_checkpoint`` file in the work dir that ``last_checkpoint``
then names, so ``--resume`` picks it. Its ``meta['projection_step']`` names
the step that a resumed run repeats (see :func:`interrupted_step`).
"""
import os
import os.path as osp
from typing import Optional, Tuple

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

#: Key of ``checkpoint['meta']`` naming the step a resume point repeats.
STEP_KEY = 'projection_step'
#: Top-level key under which earlier versions recorded the step.
LEGACY_KEY = 'prototype_projection'


def save_resume_point(runner,
                      filename: str,
                      epoch: int,
                      step: Optional[str] = None) -> None:
    """Write a checkpoint of the current state into the work dir and point
    ``last_checkpoint`` at it.

    Args:
        runner (Runner): The runner.
        filename (str): File name in ``runner.work_dir``.
        epoch (int): Finished training epochs (``meta['epoch']``).
        step (str, optional): The step after ``epoch`` that a run resumed
            from this file repeats (``'projection'`` or ``'last_layer'``);
            None for a checkpoint of a finished epoch.
    """
    meta = dict(epoch=epoch, iter=runner.iter)
    if step is not None:
        meta[STEP_KEY] = step
    runner.save_checkpoint(runner.work_dir, filename, meta=meta)
    if is_main_process():
        last = osp.join(runner.work_dir, 'last_checkpoint')
        with open(last + '.partial', 'w') as f:
            f.write(osp.join(runner.work_dir, filename))
        os.replace(last + '.partial', last)
    runner.logger.info(f'Saved {filename}')


def remove_resume_point(runner, filename: str) -> None:
    """Delete a resume point that a later one replaced."""
    path = osp.join(runner.work_dir, filename)
    if is_main_process() and osp.isfile(path):
        os.remove(path)


def interrupted_step(checkpoint: dict) -> Optional[Tuple[str, int]]:
    """``(step, epoch)`` a checkpoint asks a resumed run to repeat, or None.

    Reads ``meta['projection_step']``, and the ``'prototype_projection'``
    entry of checkpoints written by earlier versions.
    """
    meta = checkpoint.get('meta') or {}
    if meta.get(STEP_KEY) is not None:
        return meta[STEP_KEY], int(meta['epoch'])
    pending = (checkpoint.get(LEGACY_KEY) or {}).get('pending')
    if pending:
        return pending['stage'], int(pending['epoch'])
    return None


def epoch_checkpoint_name(runner, epoch: int) -> str:
    """Name of the regular checkpoint of ``epoch`` (``CheckpointHook``'s
    ``filename_tmpl``)."""
    for hook in runner.hooks:
        if isinstance(hook, CheckpointHook):
            return hook.filename_tmpl.format(epoch)
    return f'epoch_{epoch}.pth'
