"""MMEngine Runner with this project's checkpoint rules.

Registered in MMEngine's root ``RUNNERS`` registry: MMAction2's and this
project's tools build the runner before any default scope is set.

Configs select it with ``runner_type = 'HProtoRunner'``; MMAction2's own
``tools/train.py`` honours that key too.
"""
import glob
import os
import os.path as osp
import zipfile
from typing import Optional

import torch
from mmengine.dist import broadcast
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import (_load_checkpoint_to_model,
                                        find_latest_checkpoint)

from hprotopnet_mm.datasets import name_crashed_workers
from .checkpoint_format import from_plain, to_plain
from .checkpoint_trust import (UntrustedCheckpointError, load_trusted_checkpoint,
                               load_untrusted_checkpoint)


@RUNNERS.register_module()
class HProtoRunner(Runner):
    """Runner whose checkpoints load weights-only and are written atomically.

    * Checkpoints are written in plain types only
      (:mod:`hprotopnet_mm.engine.checkpoint_format`), so every load of them
      (``--resume``, ``load_from``, ``tools/test.py``) is weights-only.
    * Loads are weights-only. The single exception is ``resume`` of a
      checkpoint that a plain MMEngine Runner wrote: resuming is a request
      to continue one's own run, so that file is unpickled in full (see
      :mod:`hprotopnet_mm.engine.checkpoint_trust`).
    * ``save_checkpoint`` writes to a temporary file in the same folder and
      renames it, so a process killed mid-write never leaves a truncated
      checkpoint under the final name.
    * ``train``, ``val`` and ``test`` report a DataLoader worker killed by a
      video decoder crash with the video it was decoding
      (:func:`~hprotopnet_mm.datasets.name_crashed_workers`).
    """

    _resuming_from = None

    def train(self):
        with name_crashed_workers():
            return super().train()

    def val(self):
        with name_crashed_workers():
            return super().val()

    def test(self):
        with name_crashed_workers():
            return super().test()

    def load_or_resume(self) -> None:
        if self._resume and self._load_from is None and not self._has_loaded:
            # auto resume: pick the file here, robust to a broken
            # last_checkpoint; None (no last_checkpoint) starts anew
            self._load_from = resumable_checkpoint(self.work_dir,
                                                   self.logger)
            self._resume = self._load_from is not None
        super().load_or_resume()

    def resume(self, filename, *args, **kwargs):
        self._resuming_from = filename
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._resuming_from = None

    def load_checkpoint(self,
                        filename,
                        map_location='cpu',
                        strict=False,
                        revise_keys=[(r'^module.', '')]):
        try:
            checkpoint = load_untrusted_checkpoint(filename, map_location)
        except UntrustedCheckpointError:
            if filename != self._resuming_from:
                raise
            self.logger.warning(f'{filename} needs full unpickling; loading '
                                'it in full because it is being resumed')
            checkpoint = load_trusted_checkpoint(filename, map_location)
        checkpoint = from_plain(checkpoint)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        # with the runner's logger, tensors that do not match are logged to
        # the run's log file too, not only printed
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, self.logger, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def _init_model_weights(self):
        # As MMEngine's, but broadcasts tensors only: a module's extra state
        # (the prototype heads' provenance dict) is part of state_dict() and
        # cannot be broadcast. Ranks build it identically.
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if hasattr(model, 'init_weights'):
            model.init_weights()
            for value in model.state_dict().values():
                if torch.is_tensor(value):
                    broadcast(value)

    def call_hook(self, fn_name, **kwargs):
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint':
            # last step before the dict is written: make it weights-only.
            checkpoint = kwargs['checkpoint']
            checkpoint.update(to_plain(checkpoint))

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        if '://' in str(out_dir):
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        partial = f'.{filename}.partial'
        super().save_checkpoint(out_dir, partial, *args, **kwargs)
        if self.rank == 0:
            os.replace(osp.join(out_dir, partial), osp.join(out_dir, filename))


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole checkpoint file: torch.save writes a zip
    archive whose directory is at its end, so a cut-off file fails."""
    return osp.isfile(path) and zipfile.is_zipfile(path)


def resumable_checkpoint(work_dir: str, logger) -> Optional[str]:
    """The checkpoint an automatic ``--resume`` continues from.

    The file ``last_checkpoint`` names when it is complete. When it names
    nothing (a run killed between opening and writing it), a missing file
    or a cut-off one, the newest complete ``*.pth`` of ``work_dir`` (other
    than ``best_*``), with a warning. None without ``last_checkpoint``.
    """
    named = find_latest_checkpoint(work_dir)
    if named is None or is_complete_checkpoint(named):
        return named
    candidates = sorted(
        (p for p in glob.glob(osp.join(work_dir, '*.pth'))
         if not osp.basename(p).startswith('best_')),
        key=osp.getmtime,
        reverse=True)
    for path in candidates:
        if is_complete_checkpoint(path):
            logger.warning(
                f'{osp.join(work_dir, "last_checkpoint")} names {named!r}, '
                'which is missing or incomplete; resuming from '
                f'{path}, the newest complete checkpoint')
            return path
    raise FileNotFoundError(
        f'{osp.join(work_dir, "last_checkpoint")} names {named!r}, which is '
        f'missing or incomplete, and {work_dir} holds no other complete '
        'checkpoint to resume from')


def build_runner(cfg) -> Runner:
    """The runner a config asks for: ``runner_type`` (``HProtoRunner`` in
    the project's configs) or MMEngine's ``Runner``, as MMAction2's tools
    do."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
