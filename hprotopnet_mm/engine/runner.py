"""MMEngine Runner with this project's checkpoint rules.

Registered in MMEngine's root ``RUNNERS`` registry: MMAction2's and this
project's tools build the runner before any default scope is set.

Configs select it with ``runner_type = 'HProtoRunner'``; MMAction2's own
``tools/train.py`` honours that key too.
"""
import glob
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from typing import Optional

import torch
from mmengine.dist import broadcast
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint, load_state_dict

from hprotopnet_mm.datasets import name_crashed_workers
from .checkpoint_format import from_plain, to_plain
from .checkpoint_trust import (UntrustedCheckpointError,
                               load_trusted_checkpoint,
                               load_untrusted_checkpoint)
from .projection import unwrap_model


class PlainCheckpointHook(Hook):
    """Rewrite a checkpoint into plain types just before it is written
    (:func:`~.checkpoint_format.to_plain`), so that every load of it can be
    weights-only. ``HProtoRunner`` registers it after every other hook, so
    what they add to the checkpoint is rewritten too."""

    priority = 'LOWEST'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.update(to_plain(checkpoint))


@RUNNERS.register_module()
class HProtoRunner(Runner):
    """Runner whose checkpoints load weights-only and are written atomically.

    * Checkpoints are written in plain types only
      (:class:`PlainCheckpointHook`), so every load of them (``--resume``,
      ``load_from``, ``tools/test.py``) is weights-only.
    * Loads are weights-only. The single exception is ``resume`` of a
      checkpoint that a plain MMEngine Runner wrote: resuming is a request
      to continue one's own run, so that file is unpickled in full (see
      :mod:`hprotopnet_mm.engine.checkpoint_trust`).
    * ``save_checkpoint`` writes to a temporary file in the same folder and
      renames it, so a process killed mid-write never leaves a truncated
      checkpoint under the final name.
    * An automatic ``--resume`` whose ``last_checkpoint`` names nothing, a
      missing file or a cut-off one continues from the newest complete
      checkpoint of the work dir, with a warning.
    * ``train``, ``val`` and ``test`` report a DataLoader worker killed by a
      video decoder crash with the video it was decoding
      (:func:`~hprotopnet_mm.datasets.name_crashed_workers`).

    The methods below override MMEngine's where it offers no hook for the
    behaviour; all were checked against MMEngine 0.10.7 (the pinned
    version), and all but ``_init_model_weights`` are public.
    """

    _resuming_from = None

    def train(self):
        """MMEngine's, a decoder crash in a DataLoader worker named.

        Checked on MMEngine 0.10.7: every loop of a training run
        (epochs, validation, and the projection and last-layer phases that
        hooks run) runs inside this method, and MMEngine has no hook that
        sees an error, so the DataLoader's error is rewritten here.
        """
        with name_crashed_workers():
            return super().train()

    def val(self):
        """MMEngine's, a decoder crash in a DataLoader worker named (see
        :meth:`train`; checked on MMEngine 0.10.7)."""
        with name_crashed_workers():
            return super().val()

    def test(self):
        """MMEngine's, a decoder crash in a DataLoader worker named (see
        :meth:`train`; checked on MMEngine 0.10.7)."""
        with name_crashed_workers():
            return super().test()

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """MMEngine's, plus :class:`PlainCheckpointHook` after all others.

        Checked on MMEngine 0.10.7: ``Runner.__init__`` registers every
        hook through this method.
        """
        super().register_hooks(default_hooks, custom_hooks)
        self.register_hook(PlainCheckpointHook())

    def resume(self, filename, *args, **kwargs) -> None:
        """MMEngine's, loading ``filename`` with the resume trust rule.

        When ``filename`` is what ``last_checkpoint`` names (MMEngine's
        automatic resume) but is not a complete checkpoint, the newest
        complete checkpoint of the work dir is resumed instead. Checked on
        MMEngine 0.10.7: ``load_or_resume`` calls this method with the
        content of ``last_checkpoint`` (``''`` when that file is empty).
        """
        if not is_complete_checkpoint(filename) and \
                filename == find_latest_checkpoint(self.work_dir):
            filename = newest_complete_checkpoint(self.work_dir, filename,
                                                  self.logger)
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
        """MMEngine's, loading weights-only (except a file being resumed,
        see the class docstring), restoring plain types, and logging
        mismatched keys with the runner's logger (so they reach the log
        file).

        Checked on MMEngine 0.10.7, whose version reads the file with
        ``_load_checkpoint``, calls the ``after_load_checkpoint`` hooks and
        loads the state dict into the unwrapped model, as this one does.
        """
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
        model = unwrap_model(self.model)
        state_dict = checkpoint.get('state_dict', checkpoint)
        metadata = getattr(state_dict, '_metadata', OrderedDict())
        state_dict = OrderedDict(state_dict)
        for pattern, replacement in revise_keys:
            state_dict = OrderedDict((re.sub(pattern, replacement, k), v)
                                     for k, v in state_dict.items())
        state_dict._metadata = metadata
        load_state_dict(model, state_dict, strict, self.logger)
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def _init_model_weights(self) -> None:
        """MMEngine's, broadcasting tensors only.

        A private method: MMEngine 0.10.7 offers no hook between weight
        initialisation and the broadcast of every ``state_dict()`` value
        from rank 0, and that broadcast fails on a module's extra state
        (the prototype heads' provenance), which is not a tensor. Ranks
        build the extra state identically. Check this override when
        MMEngine is upgraded.
        """
        model = unwrap_model(self.model)
        if hasattr(model, 'init_weights'):
            model.init_weights()
            for value in model.state_dict().values():
                if torch.is_tensor(value):
                    broadcast(value)

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        """MMEngine's, written to a temporary file of the same folder and
        renamed (local folders; other backends as MMEngine writes them).

        Checked on MMEngine 0.10.7: ``CheckpointHook`` and the resume
        points write through this method.
        """
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


def newest_complete_checkpoint(work_dir: str, named: Optional[str],
                               logger) -> str:
    """The checkpoint an automatic resume continues from when
    ``last_checkpoint`` names ``named``, which is no complete checkpoint
    (empty: a run killed between opening and writing the file; missing;
    cut off): the newest complete ``*.pth`` of ``work_dir`` other than
    ``best_*``, with a warning."""
    candidates = sorted((p for p in glob.glob(osp.join(work_dir, '*.pth'))
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
