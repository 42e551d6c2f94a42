"""Stop training at the first iteration whose loss is not finite.

A NaN or infinite loss (a learning rate that is too large, a clip of
garbage, a point pushed onto the boundary of the Poincare ball) makes every
later iteration train on garbage: the weights become NaN, and the run goes
on writing useless checkpoints for days. :class:`FiniteLossHook` checks the
loss terms of every training iteration and raises
:class:`NonFiniteLossError` naming the iteration, the epoch, the terms, the
clips of the batch and the checkpoint to resume from.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from mmaction.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """A training iteration produced a NaN or infinite loss."""


def nonfinite_terms(outputs: Optional[Dict]) -> Dict[str, float]:
    """The loss terms of an iteration that are not finite.

    Args:
        outputs (dict, optional): What ``train_step`` returned: the loss
            terms (keys containing ``'loss'``, MMEngine's convention, among
            them the total ``'loss'``) and other logged values.

    Returns:
        dict[str, float]: Name -> value of every non-finite loss term.
    """
    bad = {}
    for name, value in (outputs or {}).items():
        if 'loss' not in name:
            continue
        value = torch.as_tensor(value).detach()
        if not torch.isfinite(value).all():
            bad[name] = float(value.float().mean())
    return bad


def batch_filenames(data_batch) -> List[str]:
    """Video files of a batch, from the samples' ``filename`` meta key."""
    samples = data_batch.get('data_samples', []) \
        if isinstance(data_batch, dict) else []
    return [
        sample.metainfo['filename'] for sample in samples
        if 'filename' in getattr(sample, 'metainfo', {})
    ]


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` after the first training iteration
    with a non-finite loss term.

    Runs before every other hook's ``after_train_iter``, so no checkpoint
    of the broken weights is written. In a distributed run the processes
    agree on the decision (one all-reduce of a flag per iteration), so all
    of them stop together instead of waiting for the one that stopped.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[Dict] = None) -> None:
        bad = nonfinite_terms(outputs)
        flag = torch.tensor(float(bool(bad)))
        if dist.get_world_size() > 1:
            flag = flag.to(dist.get_comm_device())
            dist.all_reduce(flag, op='sum')
        if flag.item() == 0:
            return
        raise NonFiniteLossError(
            self._message(runner, batch_idx, data_batch, bad,
                          int(flag.item())))

    @staticmethod
    def _message(runner, batch_idx: int, data_batch, bad: Dict[str, float],
                 num_processes: int) -> str:
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += (f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}/'
                      f'{len(runner.train_dataloader)})')
        lines = [f'Non-finite loss at training {where}; training stopped.']
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            lines.append(f'Loss terms: {terms}.')
        if dist.get_world_size() > 1:
            lines.append(f'{num_processes} of {dist.get_world_size()} '
                         f'processes had a non-finite loss (this is rank '
                         f'{dist.get_rank()}).')
        files = batch_filenames(data_batch)
        if bad and files:
            lines.append('Clips of the batch: ' + _short_list(files) + '.')
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if osp.isfile(last):
            with open(last) as f:
                lines.append(f'The last checkpoint is {f.read().strip()}; '
                             'resume from it (--resume) after the cause is '
                             'fixed.')
        lines.append('Look for a learning rate that is too large, clips '
                     'that decode to garbage, or a data_preprocessor std of '
                     '0.')
        return '\n'.join(lines)


def _short_list(items: Sequence[str], limit: int = 8) -> str:
    shown = ', '.join(items[:limit])
    return shown if len(items) <= limit else \
        f'{shown}, ... ({len(items)} in all)'
