"""Prototype projection and last-layer phase during training (paper
Sec. 4.5).

After every projection epoch (every ``interval`` epochs from ``begin`` on,
and optionally at the end of training) the hook

1. writes ``epoch_{n}_before_projection.pth`` (the weights the projection
   starts from),
2. projects every prototype onto its nearest candidate training patch
   (:mod:`hprotopnet_mm.engine.projection`) and records the provenance in
   ``head.prototype_sources``; optionally prunes prototypes,
3. writes ``epoch_{n}_projected.pth`` and removes the first checkpoint,
4. runs the last-layer phase: only ``cls_head.last_layer`` trains, for a
   configured number of iterations, with its own optimizer and a freshly
   built, seeded dataloader; every other module is in eval mode, so the
   feature maps the prototypes were taken from stay as they are.

The hook's phase is saved in every checkpoint (key
``'prototype_projection'``). A run killed during step 2 resumes (``--resume``)
from the first checkpoint and redoes the projection from identical weights; a
run killed during step 4 resumes from the second and redoes the whole
last-layer phase (same seed, same data order). Both give the prototypes of an
uninterrupted run. After such a resumed step the hook writes the epoch's
regular checkpoint (``CheckpointHook``'s ``filename_tmpl``, in the work dir),
which the interrupted run never wrote.

The hook runs after ``ParamSchedulerHook`` (so the checkpoints hold the
schedulers of the finished epoch) and before ``CheckpointHook`` (so the
epoch's regular checkpoint holds the projected model).
"""
import copy
import os
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.optim import build_optim_wrapper

from mmaction.registry import HOOKS
from ..projection import (apply_projection, deactivate_prototypes,
                          describe_prototypes, log_missing, nearest_clips,
                          project_prototypes, projection_candidates,
                          prototype_head, prune_decision, unwrap_model)
from .finite_loss_hook import NonFiniteLossError, nonfinite_terms
from .epoch_seed_hook import (LAST_LAYER_SEED, base_seed, derive_seed,
                              rank_seed, seeded_rng)
from .training_phase_hook import (check_epoch_based, check_freezing_allowed,
                                  restore_trainable, set_trainable)

STATE_KEY = 'prototype_projection'
LAST_LAYER = 'cls_head.last_layer'
_LAST_LAYER_KEYS = {
    'iters', 'epochs', 'optim_wrapper', 'dataloader', 'log_interval'
}
_PRUNE_KEYS = {'k', 'min_own'}


@HOOKS.register_module()
class PrototypeProjectionHook(Hook):
    """Project prototypes every ``interval`` epochs, then train the last
    layer alone.

    Args:
        interval (int): Epochs between projections.
        begin (int, optional): Number of finished epochs at the first
            projection; projections follow after ``begin + k * interval``
            epochs. Defaults to ``interval``. Set it past the warm-up.
        at_end (bool): Also project after the last epoch. Defaults to True.
        dataloader (dict, optional): Config of the projection dataloader:
            training clips through a deterministic pipeline, in a fixed
            order (``shuffle=False``). Defaults to the config's top-level
            ``projection_dataloader``.
        clips_per_forward (int): Clips the model sees at once during the
            search; 1 makes the result independent of batching and of the
            number of processes. Defaults to 1.
        last_layer (dict): The last-layer phase:

            - ``iters`` (int) or ``epochs`` (int): its length in iterations
              or passes over its dataloader (one of them; 0 skips it).
            - ``optim_wrapper`` (dict): optimizer wrapper config for the
              last layer's parameters. Defaults to Adam, lr 1e-4.
            - ``dataloader`` (dict, optional): defaults to the config's
              ``train_dataloader``.
            - ``log_interval`` (int): iterations between log lines.
              Defaults to 10.
        prune (dict, optional): ProtoPNet's prune step after projection,
            off by default. ``dict(k=6, min_own=3)`` deactivates every
            prototype with fewer than ``min_own`` clips of its own node
            among its ``k`` nearest projection clips: its last-layer column
            is set to 0 and kept at 0 from then on (see
            :func:`deactivate_prototypes`). Pruned prototypes are listed in
            ``head.prototype_sources['pruned']``.
        save_checkpoints (bool): Write the checkpoints before and after
            the projection that make a resume inside steps 2-4 exact.
            Defaults to True.
        progress (bool): Progress bar during the search. Defaults to True.
    """

    priority = 75  # after ParamSchedulerHook (70), before CheckpointHook (90)

    def __init__(self,
                 interval: int,
                 begin: Optional[int] = None,
                 at_end: bool = True,
                 dataloader: Optional[dict] = None,
                 clips_per_forward: int = 1,
                 last_layer: dict = dict(iters=0),
                 prune: Optional[dict] = None,
                 save_checkpoints: bool = True,
                 progress: bool = True) -> None:
        name = type(self).__name__
        begin = interval if begin is None else begin
        for key, value, low in (('interval', interval, 1), ('begin', begin, 1),
                                ('clips_per_forward', clips_per_forward, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f'{name}: {key} must be an int >= {low}, '
                                 f'got {value!r}')
        last_layer = dict(last_layer)
        unknown = set(last_layer) - _LAST_LAYER_KEYS
        if unknown:
            raise ValueError(f'{name}: unknown last_layer keys '
                             f'{sorted(unknown)}; allowed: '
                             f'{sorted(_LAST_LAYER_KEYS)}')
        if ('iters' in last_layer) == ('epochs' in last_layer):
            raise ValueError(f'{name}: last_layer needs exactly one of '
                             f'"iters" and "epochs", got {last_layer}')
        length = last_layer.get('iters', last_layer.get('epochs'))
        if not isinstance(length, int) or length < 0:
            raise ValueError(f'{name}: last_layer iters/epochs must be a '
                             f'non-negative int, got {length!r}')
        last_layer.setdefault('optim_wrapper',
                              dict(optimizer=dict(type='Adam', lr=1e-4)))
        last_layer.setdefault('log_interval', 10)
        if prune is not None:
            prune = dict(prune)
            if set(prune) != _PRUNE_KEYS or not all(
                    isinstance(v, int) and v >= 1 for v in prune.values()) \
                    or prune['min_own'] > prune['k']:
                raise ValueError(
                    f'{name}: prune must be dict(k=K, min_own=M) with '
                    f'1 <= M <= K, got {prune}')
        self.interval = interval
        self.begin = begin
        self.at_end = at_end
        self.dataloader = dataloader
        self.clips_per_forward = clips_per_forward
        self.last_layer = last_layer
        self.prune = prune
        self.save_checkpoints = save_checkpoints
        self.progress = progress
        self._pending: Optional[Dict] = None
        self._loaded_pending: Optional[Dict] = None

    # ------------------------------------------------------------------
    # schedule and state
    # ------------------------------------------------------------------
    def is_projection_epoch(self, finished: int, max_epochs: int) -> bool:
        """Whether to project after ``finished`` (1-based) epochs."""
        if self.at_end and finished == max_epochs:
            return True
        return finished >= self.begin and \
            (finished - self.begin) % self.interval == 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = dict(pending=copy.deepcopy(self._pending))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(STATE_KEY) or {}
        self._loaded_pending = copy.deepcopy(state.get('pending'))

    def before_train(self, runner) -> None:
        if self._projection_cfg(runner) is None:
            raise ValueError(
                f'{type(self).__name__}: no projection dataloader; define '
                'projection_dataloader in the config (training clips, '
                'deterministic pipeline, shuffle=False) or pass dataloader=')
        prototype_head(runner.model)
        check_epoch_based(runner, type(self).__name__)
        if self._last_layer_enabled():
            check_freezing_allowed(runner, type(self).__name__)
        self._apply_pruning(runner)
        pending, self._loaded_pending = self._loaded_pending, None
        if pending is None:
            return
        if pending['epoch'] != runner.epoch:
            runner.logger.warning(
                f'The loaded checkpoint was written during the '
                f'{pending["stage"]} step after epoch {pending["epoch"]}, but '
                f'training starts at epoch {runner.epoch + 1} (not a resume); '
                'the interrupted step is not repeated')
            return
        runner.logger.info(
            f'Resuming the interrupted {pending["stage"].replace("_", "-")} '
            f'step after epoch {pending["epoch"]}')
        self._run(runner, pending['epoch'], pending['stage'], resumed=True)
        # The epoch's regular checkpoint was never written; write it now.
        self._save(runner, pending['epoch'],
                   self._epoch_filename(runner, pending['epoch']))

    def after_train_epoch(self, runner) -> None:
        finished = runner.epoch + 1
        if self.is_projection_epoch(finished, runner.max_epochs):
            self._run(runner, finished, 'projection')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._apply_pruning(runner)

    # ------------------------------------------------------------------
    # steps
    # ------------------------------------------------------------------
    def _run(self,
             runner,
             epoch: int,
             stage: str,
             resumed: bool = False) -> None:
        """Run the steps after ``epoch`` from ``stage`` on; ``resumed``
        when its checkpoint was just loaded."""
        if stage not in ('projection', 'last_layer'):
            raise ValueError(f'unknown projection stage {stage!r} in the '
                             'checkpoint')
        if stage == 'projection':
            self._pending = dict(stage='projection', epoch=epoch)
            if self.save_checkpoints and not resumed:
                self._save(runner, epoch,
                           f'epoch_{epoch}_before_projection.pth')
            self._project(runner, epoch)
            self._pending = dict(stage='last_layer', epoch=epoch)
            if self.save_checkpoints:
                self._save(runner, epoch, f'epoch_{epoch}_projected.pth')
                self._remove(runner, f'epoch_{epoch}_before_projection.pth')
        self._pending = dict(stage='last_layer', epoch=epoch)
        if self._last_layer_enabled():
            self._train_last_layer(runner, epoch)
        self._pending = None

    def _project(self, runner, epoch: int) -> None:
        head = prototype_head(runner.model)
        dataloader = self._build_dataloader(runner,
                                            self._projection_cfg(runner),
                                            derive_seed(base_seed(runner)))
        runner.logger.info(
            f'Prototype projection after epoch {epoch}: searching '
            f'{len(dataloader.dataset)} clips for the nearest patches of '
            f'{head.num_prototypes} prototypes')
        result = project_prototypes(runner.model, dataloader,
                                    self.clips_per_forward, self.progress)
        apply_projection(head, result, epoch=epoch)
        log_missing(head, result, runner.logger)
        found = result.distance[result.found]
        clips = {r['dataset_index'] for r in result.records if r}
        runner.logger.info(
            f'Projected {int(result.found.sum())}/{head.num_prototypes} '
            f'prototypes onto patches of {len(clips)} clips (distance moved: '
            f'mean {found.mean().item() if found.numel() else 0:.4g}, max '
            f'{found.max().item() if found.numel() else 0:.4g})')
        if self.prune is not None:
            self._prune(runner, head, dataloader)

    def _prune(self, runner, head, dataloader) -> None:
        _, _, labels = nearest_clips(runner.model, dataloader, self.prune['k'],
                                     self.clips_per_forward, self.progress)
        prune = prune_decision(labels, projection_candidates(head),
                               self.prune['min_own'])
        before = set(head.prototype_sources['pruned'])
        new = sorted(set(prune.nonzero().flatten().tolist()) - before)
        head.prototype_sources['pruned'] = sorted(before | set(new))
        self._apply_pruning(runner)
        runner.logger.info(
            f'Pruning: {len(new)} prototype(s) deactivated now (fewer than '
            f'{self.prune["min_own"]} of their {self.prune["k"]} nearest '
            f'clips from their own node), '
            f'{len(head.prototype_sources["pruned"])} in total' +
            (f': {describe_prototypes(head, new)}' if new else ''))

    def _apply_pruning(self, runner) -> None:
        """Keep the last-layer columns of pruned prototypes at zero."""
        head = prototype_head(runner.model)
        sources = head.prototype_sources or {}
        deactivate_prototypes(head, sources.get('pruned', []))

    def _train_last_layer(self, runner, epoch: int) -> None:
        """Train only the last layer (fresh optimizer, seeded data)."""
        cfg = self.last_layer
        model = runner.model
        module = unwrap_model(model)
        head = prototype_head(model)
        seed = derive_seed(base_seed(runner), LAST_LAYER_SEED, epoch)
        loader_cfg = cfg.get('dataloader') or runner.cfg.get(
            'train_dataloader')
        with seeded_rng(rank_seed(runner, LAST_LAYER_SEED, epoch)):
            dataloader = self._build_dataloader(runner, loader_cfg, seed)
            iters = cfg['iters'] if 'iters' in cfg else \
                cfg['epochs'] * len(dataloader)
            optim_wrapper = build_optim_wrapper(
                head.last_layer, copy.deepcopy(cfg['optim_wrapper']))
            optim_wrapper.initialize_count_status(model, 0, iters)
            runner.logger.info(
                f'Last-layer phase after epoch {epoch}: {iters} iterations, '
                f'only {LAST_LAYER} trains')
            flags = set_trainable(module, [LAST_LAYER], {
                name: True
                for name, _ in module.named_parameters()
            })
            modes = [(m, m.training) for m in module.modules()]
            module.eval()
            try:
                self._last_layer_loop(runner, dataloader, optim_wrapper, iters,
                                      epoch)
            finally:
                for m, training in modes:
                    m.training = training
                restore_trainable(module, flags)

    def _last_layer_loop(self, runner, dataloader, optim_wrapper, iters: int,
                         epoch: int) -> None:
        done, data_epoch = 0, 0
        interval = self.last_layer['log_interval']
        while done < iters:
            if hasattr(dataloader.sampler, 'set_epoch'):
                dataloader.sampler.set_epoch(data_epoch)
            for data_batch in dataloader:
                log_vars = runner.model.train_step(
                    data_batch, optim_wrapper=optim_wrapper)
                bad = nonfinite_terms(log_vars)
                if bad:
                    raise NonFiniteLossError(
                        f'Non-finite loss in the last-layer phase after epoch '
                        f'{epoch}, iteration {done + 1}/{iters}: {bad}')
                self._apply_pruning(runner)
                done += 1
                if done % interval == 0 or done == iters:
                    values = ', '.join(f'{k}: {float(v.detach()):.4f}'
                                       for k, v in log_vars.items())
                    runner.logger.info(f'Last-layer phase after epoch {epoch}'
                                       f' [{done}/{iters}] {values}')
                if done == iters:
                    break
            data_epoch += 1

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _last_layer_enabled(self) -> bool:
        return self.last_layer.get('iters', self.last_layer.get('epochs')) > 0

    def _projection_cfg(self, runner) -> Optional[dict]:
        return self.dataloader or runner.cfg.get('projection_dataloader')

    @staticmethod
    def _build_dataloader(runner, cfg: dict, seed: int):
        """Build a dataloader anew, seeded, without persistent workers."""
        if cfg is None:
            raise ValueError('no dataloader config for the last-layer phase '
                             '(train_dataloader or last_layer.dataloader)')
        cfg = copy.deepcopy(dict(cfg))
        cfg['persistent_workers'] = False
        return runner.build_dataloader(cfg, seed=seed, diff_rank_seed=False)

    @staticmethod
    def _epoch_filename(runner, epoch: int) -> str:
        """Name of the regular checkpoint of ``epoch`` (CheckpointHook's
        ``filename_tmpl``)."""
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                return hook.filename_tmpl.format(epoch)
        return f'epoch_{epoch}.pth'

    def _save(self, runner, epoch: int, filename: str) -> None:
        """Write a checkpoint of the current state into the work dir and
        point ``last_checkpoint`` at it (so ``--resume`` picks it)."""
        runner.save_checkpoint(
            runner.work_dir,
            filename,
            meta=dict(epoch=epoch, iter=runner.iter))
        if is_main_process():
            last = osp.join(runner.work_dir, 'last_checkpoint')
            with open(last + '.partial', 'w') as f:
                f.write(osp.join(runner.work_dir, filename))
            os.replace(last + '.partial', last)
        runner.logger.info(f'Saved {filename}')

    @staticmethod
    def _remove(runner, filename: str) -> None:
        path = osp.join(runner.work_dir, filename)
        if is_main_process() and osp.isfile(path):
            os.remove(path)
