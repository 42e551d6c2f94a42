"""Prototype projection and last-layer phase during training (paper
Sec. 4.5).

After every projection epoch (every ``interval`` epochs from ``begin`` on,
and optionally at the end of training) the hook runs two steps:

1. **projection**: every prototype becomes its nearest candidate training
   patch (:mod:`hprotopnet_mm.engine.projection`), its provenance goes to
   ``head.prototype_sources``; optionally prototypes are pruned;
2. **last-layer phase**: only ``cls_head.last_layer`` trains, for a
   configured number of iterations (:class:`LastLayerLoop`, which logs its
   losses through the message hub to every visualizer backend), with its
   own optimizer and a freshly built, seeded dataloader.

Before each step the hook writes a resume point
(:mod:`hprotopnet_mm.engine.resume_points`): ``epoch_{n}_before_projection
.pth`` (the weights the projection starts from) and ``epoch_{n}_projected
.pth`` (which replaces it). A run killed inside a step resumes
(``--resume``) from the step's resume point and repeats the step from
identical weights with the same seed and data order, so it ends with the
prototypes of an uninterrupted run. After such a repeated step the hook
writes the epoch's regular checkpoint (``CheckpointHook``'s
``filename_tmpl``), which the interrupted run never wrote.

The hook runs after ``ParamSchedulerHook`` (so resume points hold the
schedulers of the finished epoch) and before ``CheckpointHook`` (so the
epoch's regular checkpoint holds the projected model).
"""
import copy
from typing import Optional, Tuple

from mmengine.hooks import Hook

from mmaction.registry import HOOKS
from ..loops.last_layer_loop import LastLayerLoop
from ..projection import (apply_projection, deactivate_prototypes,
                          describe_prototypes, log_missing, nearest_clips,
                          project_prototypes, projection_candidates,
                          prototype_head, prune_decision, pruned_prototypes)
from ..resume_points import (epoch_checkpoint_name, interrupted_step,
                             remove_resume_point, save_resume_point)
from .epoch_seed_hook import (LAST_LAYER_SEED, base_seed, derive_seed,
                              rank_seed, seeded_rng)
from .training_phase_hook import check_epoch_based, check_freezing_allowed

PROJECTION, LAST_LAYER = 'projection', 'last_layer'
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
        unique_patches (bool): Prototypes of one node take distinct
            patches: they choose in the order of their nearest-patch
            distance, and each takes its nearest candidate patch that no
            prototype of its node chose before (see
            :mod:`hprotopnet_mm.engine.projection.project`). False: every
            prototype takes its nearest patch (ProtoPNet), so prototypes of
            one node may coincide. Defaults to True.
        last_layer (dict): The last-layer phase (:class:`LastLayerLoop`):

            - ``iters`` (int) or ``epochs`` (int): its length in iterations
              or passes over its dataloader (one of them; 0 skips it).
            - ``optim_wrapper`` (dict): optimizer wrapper config for the
              last layer's parameters. Defaults to Adam, lr 1e-4.
            - ``dataloader`` (dict, optional): defaults to the config's
              ``train_dataloader``.
            - ``log_interval`` (int): iterations between logs. Defaults
              to 10.
        prune (dict, optional): ProtoPNet's prune step after projection,
            off by default. ``dict(k=6, min_own=3)`` deactivates every
            prototype with fewer than ``min_own`` clips of its own node
            among its ``k`` nearest projection clips: its last-layer column
            is set to 0 and kept at 0 from then on (see
            :func:`deactivate_prototypes`). Pruned prototypes are listed in
            ``head.prototype_sources.pruned``.
        save_checkpoints (bool): Write the resume points that make a resume
            inside the steps exact. Defaults to True.
        progress (bool): Progress bar during the search. Defaults to True.
    """

    priority = 75  # after ParamSchedulerHook (70), before CheckpointHook (90)

    def __init__(self,
                 interval: int,
                 begin: Optional[int] = None,
                 at_end: bool = True,
                 dataloader: Optional[dict] = None,
                 clips_per_forward: int = 1,
                 unique_patches: bool = True,
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
        self.last_layer = _last_layer_settings(last_layer, name)
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
        self.unique_patches = bool(unique_patches)
        self.prune = prune
        self.save_checkpoints = save_checkpoints
        self.progress = progress
        # the step a loaded checkpoint asks to repeat, until before_train
        self._interrupted: Optional[Tuple[str, int]] = None

    def is_projection_epoch(self, finished: int, max_epochs: int) -> bool:
        """Whether to project after ``finished`` (1-based) epochs."""
        if self.at_end and finished == max_epochs:
            return True
        return finished >= self.begin and \
            (finished - self.begin) % self.interval == 0

    # ------------------------------------------------------------------
    # hook points
    # ------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._interrupted = interrupted_step(checkpoint)

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
        self._keep_pruned(runner)
        interrupted, self._interrupted = self._interrupted, None
        if interrupted is None:
            return
        step, epoch = interrupted
        if step not in (PROJECTION, LAST_LAYER):
            raise ValueError(f'unknown projection step {step!r} in the '
                             'checkpoint')
        if epoch != runner.epoch:
            runner.logger.warning(
                f'The loaded checkpoint was written during the {step} step '
                f'after epoch {epoch}, but training starts at epoch '
                f'{runner.epoch + 1} (not a resume); the interrupted step '
                'is not repeated')
            return
        runner.logger.info(f'Resuming the interrupted '
                           f'{step.replace("_", "-")} step after epoch '
                           f'{epoch}')
        self._run_steps(runner, epoch, first=step)
        # The epoch's regular checkpoint was never written; write it now.
        save_resume_point(runner, epoch_checkpoint_name(runner, epoch), epoch)

    def after_train_epoch(self, runner) -> None:
        finished = runner.epoch + 1
        if self.is_projection_epoch(finished, runner.max_epochs):
            self._run_steps(runner, finished, first=None)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._keep_pruned(runner)

    # ------------------------------------------------------------------
    # steps
    # ------------------------------------------------------------------
    def _run_steps(self, runner, epoch: int, first: Optional[str]) -> None:
        """Run the steps after ``epoch``: both when ``first`` is None (a
        fresh run writes the resume point of the projection first),
        otherwise from the step ``first`` of a loaded resume point on."""
        if first in (None, PROJECTION):
            if self.save_checkpoints and first is None:
                save_resume_point(runner,
                                  f'epoch_{epoch}_before_projection.pth',
                                  epoch, PROJECTION)
            self._project(runner, epoch)
            if self.save_checkpoints:
                save_resume_point(runner, f'epoch_{epoch}_projected.pth',
                                  epoch, LAST_LAYER)
                remove_resume_point(runner,
                                    f'epoch_{epoch}_before_projection.pth')
        if self._last_layer_enabled():
            self._train_last_layer(runner, epoch)

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
                                    self.clips_per_forward, self.progress,
                                    self.unique_patches)
        apply_projection(head, result, epoch=epoch)
        log_missing(head, result, runner.logger)
        found = result.distance[result.found]
        clips = {r.dataset_index for r in result.records if r is not None}
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
        sources = head.prototype_sources
        before = set(sources.pruned)
        new = sorted(set(prune.nonzero().flatten().tolist()) - before)
        sources.pruned = sorted(before | set(new))
        self._keep_pruned(runner)
        runner.logger.info(
            f'Pruning: {len(new)} prototype(s) deactivated now (fewer than '
            f'{self.prune["min_own"]} of their {self.prune["k"]} nearest '
            f'clips from their own node), {len(sources.pruned)} in total' +
            (f': {describe_prototypes(head, new)}' if new else ''))

    @staticmethod
    def _keep_pruned(runner) -> None:
        """Keep the last-layer columns of pruned prototypes at zero."""
        head = prototype_head(runner.model)
        deactivate_prototypes(head, pruned_prototypes(head))

    def _train_last_layer(self, runner, epoch: int) -> None:
        """The last-layer phase after ``epoch``, on data and random numbers
        seeded by the run's seed and ``epoch`` alone."""
        cfg = self.last_layer
        loader_cfg = cfg.get('dataloader') or runner.cfg.get(
            'train_dataloader')
        with seeded_rng(rank_seed(runner, LAST_LAYER_SEED, epoch)):
            dataloader = self._build_dataloader(
                runner, loader_cfg,
                derive_seed(base_seed(runner), LAST_LAYER_SEED, epoch))
            LastLayerLoop(
                runner,
                dataloader,
                optim_wrapper=cfg['optim_wrapper'],
                iters=cfg.get('iters'),
                epochs=cfg.get('epochs'),
                log_interval=cfg['log_interval'],
                title=f'Last-layer phase after epoch {epoch}').run()

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


def _last_layer_settings(last_layer: dict, owner: str) -> dict:
    """Check the ``last_layer`` argument and fill in its defaults."""
    last_layer = dict(last_layer)
    unknown = set(last_layer) - _LAST_LAYER_KEYS
    if unknown:
        raise ValueError(f'{owner}: unknown last_layer keys '
                         f'{sorted(unknown)}; allowed: '
                         f'{sorted(_LAST_LAYER_KEYS)}')
    if ('iters' in last_layer) == ('epochs' in last_layer):
        raise ValueError(f'{owner}: last_layer needs exactly one of '
                         f'"iters" and "epochs", got {last_layer}')
    length = last_layer.get('iters', last_layer.get('epochs'))
    if not isinstance(length, int) or length < 0:
        raise ValueError(f'{owner}: last_layer iters/epochs must be a '
                         f'non-negative int, got {length!r}')
    last_layer.setdefault('optim_wrapper',
                          dict(optimizer=dict(type='Adam', lr=1e-4)))
    last_layer.setdefault('log_interval', 10)
    return last_layer
