"""The last-layer phase of prototype training (paper Sec. 4.5), as an MMEngine
loop."""
import copy
from typing import Dict, Optional

from mmengine.optim import build_optim_wrapper
from mmengine.runner import BaseLoop
from torch.utils.data import DataLoader

from mmaction.registry import LOOPS
from ..hooks.finite_loss_hook import NonFiniteLossError, nonfinite_terms
from ..hooks.training_phase_hook import restore_trainable, set_trainable
from ..projection import (deactivate_prototypes, eval_mode, prototype_head,
                          pruned_prototypes, unwrap_model)

LAST_LAYER = 'cls_head.last_layer'
#: Message hub key of the last-layer iterations done in the run so far.
ITER_INFO = 'last_layer_iter'
#: Prefix of the message hub and visualizer keys of the phase's losses.
PREFIX = 'last_layer/'


@LOOPS.register_module()
class LastLayerLoop(BaseLoop):
    """Train ``cls_head.last_layer`` alone for a number of iterations.

    Every other parameter is frozen and every module is in eval mode, so the
    feature maps the prototypes were projected from stay as they are
    (normalisation statistics included). The optimizer is built anew from
    ``optim_wrapper`` for the last layer's parameters. Modes and
    ``requires_grad`` flags are restored afterwards. The last-layer columns
    of pruned prototypes are kept at 0 after every step.

    Logging goes through MMEngine: every iteration's outputs are added to the
    runner's message hub under ``last_layer/<name>``; every
    ``log_interval`` iterations (and after the last) their mean since the
    previous log is written to every visualizer backend
    (``runner.visualizer.add_scalars``: ``scalars.json`` of the local
    backend, TensorBoard, ...) and logged as a line. The step of those
    scalars counts the last-layer iterations of the whole run (runtime info
    ``last_layer_iter`` of the message hub, saved in checkpoints).

    The loop calls hooks at their own points, not the training ones (which
    would count its iterations as training iterations):
    ``before_last_layer_phase(runner, loop)``,
    ``after_last_layer_iter(runner, loop, batch_idx, data_batch, outputs)``
    and ``after_last_layer_phase(runner, loop)``; a hook may add scalars
    under ``last_layer/`` to the message hub there (``BadVideoHook`` counts
    the stand-ins for videos that failed to decode), which are logged at
    their current value beside the losses.

    The caller seeds the random generators and builds ``dataloader`` (the
    projection hook derives both from the run's seed and the epoch, so a
    resumed phase repeats an interrupted one exactly).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader): Training clips of the phase.
        optim_wrapper (dict): Optimizer wrapper config for the last layer.
        iters (int, optional): Iterations to run.
        epochs (int, optional): Passes over ``dataloader`` to run, when
            ``iters`` is None.
        log_interval (int): Iterations between logs. Defaults to 10.
        title (str): Names the phase in log lines, e.g.
            ``'Last-layer phase after epoch 3'``.
    """

    def __init__(self,
                 runner,
                 dataloader: DataLoader,
                 optim_wrapper: dict,
                 iters: Optional[int] = None,
                 epochs: Optional[int] = None,
                 log_interval: int = 10,
                 title: str = 'Last-layer phase') -> None:
        super().__init__(runner, dataloader)
        if (iters is None) == (epochs is None):
            raise ValueError('LastLayerLoop needs exactly one of iters and '
                             f'epochs, got {iters} and {epochs}')
        self.max_iters = iters if iters is not None else \
            epochs * len(self.dataloader)
        self.optim_wrapper_cfg = copy.deepcopy(optim_wrapper)
        self.log_interval = log_interval
        self.title = title
        self._iter = 0

    @property
    def iter(self) -> int:
        """int: Iterations done in this phase."""
        return self._iter

    def run(self) -> None:
        """Run the phase."""
        runner = self.runner
        module = unwrap_model(runner.model)
        head = prototype_head(module)
        optim_wrapper = build_optim_wrapper(head.last_layer,
                                            self.optim_wrapper_cfg)
        optim_wrapper.initialize_count_status(runner.model, 0, self.max_iters)
        runner.logger.info(f'{self.title}: {self.max_iters} iterations, '
                           f'only {LAST_LAYER} trains')
        flags = set_trainable(module, [LAST_LAYER], {
            n: True
            for n, _ in module.named_parameters()
        })
        runner.call_hook('before_last_layer_phase', loop=self)
        try:
            with eval_mode(module):
                data_epoch = 0
                while self._iter < self.max_iters:
                    sampler = getattr(self.dataloader, 'sampler', None)
                    if hasattr(sampler, 'set_epoch'):
                        sampler.set_epoch(data_epoch)
                    for batch_idx, data_batch in enumerate(self.dataloader):
                        self.run_iter(batch_idx, data_batch, optim_wrapper,
                                      head)
                        if self._iter == self.max_iters:
                            break
                    data_epoch += 1
        finally:
            restore_trainable(module, flags)
        runner.call_hook('after_last_layer_phase', loop=self)

    def run_iter(self, batch_idx: int, data_batch, optim_wrapper,
                 head) -> None:
        """One step on ``data_batch``, then keep pruned columns at 0, call
        the hooks and log."""
        runner = self.runner
        outputs = runner.model.train_step(
            data_batch, optim_wrapper=optim_wrapper)
        bad = nonfinite_terms(outputs)
        if bad:
            raise NonFiniteLossError(
                f'Non-finite loss in the {self.title[:1].lower()}'
                f'{self.title[1:]}, iteration {self._iter + 1}/'
                f'{self.max_iters}: {bad}')
        deactivate_prototypes(head, pruned_prototypes(head))
        self._iter += 1
        hub = runner.message_hub
        hub.update_info(ITER_INFO, hub.get_info(ITER_INFO, 0) + 1)
        hub.update_scalars({PREFIX + k: v for k, v in outputs.items()})
        hub.update_scalar(PREFIX + 'lr', optim_wrapper.get_lr()['lr'][0])
        runner.call_hook(
            'after_last_layer_iter',
            loop=self,
            batch_idx=batch_idx,
            data_batch=data_batch,
            outputs=outputs)
        since_log = (self._iter - 1) % self.log_interval + 1
        if since_log == self.log_interval or self._iter == self.max_iters:
            self._log(list(outputs) + ['lr'], since_log)

    def _log(self, names, window: int) -> None:
        """Write the mean of the last ``window`` iterations of every output,
        and the current value of the other ``last_layer/`` scalars of the
        message hub (those of hooks), to the visualizer backends and the
        log."""
        runner = self.runner
        hub = runner.message_hub
        scalars: Dict[str, float] = {
            PREFIX + name: float(hub.get_scalar(PREFIX + name).mean(window))
            for name in names
        }
        for key, history in hub.log_scalars.items():
            if key.startswith(PREFIX) and key not in scalars:
                names.append(key[len(PREFIX):])
                scalars[key] = float(history.current())
        scalars[PREFIX + 'iter'] = self._iter
        runner.visualizer.add_scalars(
            scalars,
            step=hub.get_info(ITER_INFO),
            file_path=f'{runner.timestamp}.json')
        values = ', '.join(f'{name}: {scalars[PREFIX + name]:.4f}'
                           for name in names if name != 'lr')
        runner.logger.info(f'{self.title} [{self._iter}/{self.max_iters}] '
                           f'{values}')
