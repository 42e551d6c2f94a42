"""Count the samples that stood in for videos that failed to decode, and
stop the run when too many videos are bad.

With ``on_bad_video='skip'`` a :class:`CheckedVideoDataset` replaces a
sample whose decoding fails by a stand-in and records the failure in the
stand-in's metainfo (``stands_in_for``); it also leaves out the videos its
check could not open (``dataset.skipped``). :class:`BadVideoHook` reads the
batches in the training process (so failures in DataLoader workers count
too) and

* puts the number of stand-ins of the current training epoch into the
  message hub (``train/bad_samples``: every training log line and the
  scalar backends show it; ``val/``, ``test/`` and, for the last-layer
  phase of :class:`~hprotopnet_mm.engine.loops.LastLayerLoop`,
  ``last_layer/bad_samples`` likewise) and logs, after every epoch or
  phase that had any, the videos that failed with their errors;
* raises :class:`BadVideoError` listing them when the bad videos of a
  dataset (left out by the check, or failed while decoding, each counted
  once) exceed its ``max_bad_ratio`` of the listed videos.

In a distributed run the processes share their failures (an all-reduce of
a count per iteration, and the records when there are any), so every
process counts all of them and all stop together.
"""
from typing import Dict, List, Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook

from hprotopnet_mm.datasets import (STAND_IN_KEY, BadVideoError,
                                    CheckedVideoDataset)
from mmaction.registry import HOOKS

MAX_LISTED = 20  # videos spelled out in a message; the rest are counted


def checked_dataset(loop) -> Optional[CheckedVideoDataset]:
    """The :class:`CheckedVideoDataset` a loop reads (through dataset
    wrappers with a ``dataset`` attribute), or None."""
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    while dataset is not None and not isinstance(dataset, CheckedVideoDataset):
        dataset = getattr(dataset, 'dataset', None)
    return dataset


def stand_in_failures(data_batch) -> List[dict]:
    """The decoding failures recorded in the stand-ins of a batch."""
    samples = data_batch.get('data_samples', []) \
        if isinstance(data_batch, dict) else []
    failures = []
    for sample in samples or []:
        failures += getattr(sample, 'metainfo', {}).get(STAND_IN_KEY, [])
    return failures


def gather_failures(failures: List[dict]) -> List[dict]:
    """The failures of every process (in rank order); ``failures`` alone
    outside distributed runs."""
    if dist.get_world_size() == 1:
        return failures
    count = torch.tensor(float(len(failures))).to(dist.get_comm_device())
    dist.all_reduce(count, op='sum')
    if count.item() == 0:
        return []
    return [f for part in dist.all_gather_object(failures) for f in part]


def _describe(failures: List[dict]) -> str:
    lines = [
        f'  {f["ann_file"]}:{f["ann_line"]}: {f["filename"]}: {f["error"]}'
        for f in failures[:MAX_LISTED]
    ]
    if len(failures) > MAX_LISTED:
        lines.append(f'  ... and {len(failures) - MAX_LISTED} more')
    return '\n'.join(lines)


@HOOKS.register_module()
class BadVideoHook(Hook):
    """Count, log and limit bad videos of the train, val and test loops and
    of the last-layer phase (module doc). Runs before ``LoggerHook``, so
    each log line holds the count."""

    priority = 'ABOVE_NORMAL'

    def __init__(self) -> None:
        self._epoch: Dict[str, List[dict]] = {}  # mode -> failures
        self._failed: Dict[str, Dict[str, dict]] = {}  # mode -> file -> one

    # train ------------------------------------------------------------
    def before_train(self, runner) -> None:
        self._start(runner, 'train', runner.train_loop)

    def before_train_epoch(self, runner) -> None:
        self._epoch['train'] = []

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._collect(runner, 'train', runner.train_loop, data_batch)

    def after_train_epoch(self, runner) -> None:
        self._summary(runner, 'train', f'Epoch(train) [{runner.epoch + 1}]')

    # the last-layer phase (LastLayerLoop's hook points) ---------------
    def before_last_layer_phase(self, runner, loop) -> None:
        self._start(runner, 'last_layer', loop)

    def after_last_layer_iter(self,
                              runner,
                              loop,
                              batch_idx: int,
                              data_batch=None,
                              outputs=None) -> None:
        self._collect(runner, 'last_layer', loop, data_batch)

    def after_last_layer_phase(self, runner, loop) -> None:
        self._summary(runner, 'last_layer', loop.title)

    # val / test -------------------------------------------------------
    def before_val(self, runner) -> None:
        self._start(runner, 'val', runner.val_loop)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        self._collect(runner, 'val', runner.val_loop, data_batch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._summary(runner, 'val', 'Epoch(val)')

    def before_test(self, runner) -> None:
        self._start(runner, 'test', runner.test_loop)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs=None) -> None:
        self._collect(runner, 'test', runner.test_loop, data_batch)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._summary(runner, 'test', 'Epoch(test)')

    # helpers ----------------------------------------------------------
    def _start(self, runner, mode: str, loop) -> None:
        self._epoch[mode] = []
        self._failed[mode] = {}
        dataset = checked_dataset(loop)
        if dataset is not None:
            self._check_ratio(dataset, mode)

    def _collect(self, runner, mode: str, loop, data_batch) -> None:
        """Count the stand-ins of a batch, put the count of the epoch (or
        phase) into the message hub as ``<mode>/bad_samples`` and check
        the ratio."""
        dataset = checked_dataset(loop)
        if dataset is None or dataset.on_bad_video != 'skip':
            return  # no stand-ins: a failure raised
        failures = gather_failures(stand_in_failures(data_batch))
        self._epoch.setdefault(mode, []).extend(failures)
        failed = self._failed.setdefault(mode, {})
        for failure in failures:
            failed.setdefault(failure['filename'], failure)
        runner.message_hub.update_scalar(f'{mode}/bad_samples',
                                         len(self._epoch[mode]))
        if failures:
            self._check_ratio(dataset, mode)

    def _summary(self, runner, mode: str, when: str) -> None:
        failures = self._epoch.get(mode) or []
        if not failures:
            return
        what = ('replaced by stand-ins' if mode in ('train', 'last_layer') else
                'replaced by stand-ins, left out of the metrics')
        runner.logger.warning(
            f'{when}: {len(failures)} sample(s) whose video failed to decode '
            f'were {what}:\n{_describe(failures)}')
        if mode != 'train':
            self._epoch[mode] = []

    def _check_ratio(self, dataset: CheckedVideoDataset, mode: str) -> None:
        """Raise :class:`BadVideoError` when more of the listed videos are
        bad than ``dataset.max_bad_ratio`` allows."""
        skipped = [
            dict(
                ann_file=dataset.ann_file,
                ann_line=info.get('ann_line'),
                filename=info['filename'],
                error=info.get('problem', 'left out by the check'))
            for info in dataset.skipped
        ]
        bad = skipped + list(self._failed.get(mode, {}).values())
        listed = dataset.listed_videos()
        if len(bad) <= dataset.max_bad_ratio * listed:
            return
        raise BadVideoError(
            f'{dataset.ann_file}: {len(bad)} of {listed} listed videos are '
            f'bad ({len(skipped)} left out by the check, '
            f'{len(bad) - len(skipped)} failed while decoding), more than '
            f'max_bad_ratio={dataset.max_bad_ratio:g} allows; the run stops '
            f'({mode}):\n{_describe(bad)}\nFix or remove these videos, or '
            'raise max_bad_ratio.')
