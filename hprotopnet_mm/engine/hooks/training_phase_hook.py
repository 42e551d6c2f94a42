"""Warm-up and joint phases of prototype training (paper Sec. 4.4).

* warm-up (the first ``warmup_epochs`` epochs): the backbone is frozen; only
  the parameters under ``warmup_trainable`` (by default the add-on layers and
  the prototypes) train.
* joint (the remaining epochs): every parameter under ``joint_trainable``
  trains (by default all of them).

The learning rate of every group comes from the optimizer config, e.g.
MMEngine's ``paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=...)})``.
Frozen parameters get ``requires_grad=False``: no gradient, so the
optimizer skips them (their values and optimizer state stay untouched) and
no backward pass runs through a frozen backbone. Normalisation layers of
frozen modules keep updating their running statistics in training mode, as
in ProtoPNet.

The phase depends on the epoch only, so a resumed run continues in the phase
of its epoch. Phase changes are logged.

Distributed training: a parameter frozen by a phase gets no gradient, which
``DistributedDataParallel`` accepts only with
``find_unused_parameters=True`` (set in ``model_wrapper_cfg``); the hook
checks it. Parameters that were frozen when training started (e.g. by a
backbone's ``frozen_stages``) are never unfrozen.
"""
from typing import Dict, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmaction.registry import HOOKS
from ..projection import unwrap_model


def matches_prefix(name: str, prefixes: Optional[Sequence[str]]) -> bool:
    """Whether parameter ``name`` lies under one of the module ``prefixes``.

    ``None`` matches every name; ``'cls_head.last_layer'`` matches
    ``'cls_head.last_layer.weight'`` but not ``'cls_head.last_layer2.w'``.
    """
    if prefixes is None:
        return True
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def check_prefixes(model: nn.Module, prefixes: Optional[Sequence[str]],
                   owner: str, key: str) -> None:
    """Raise if a prefix names no parameter of ``model``."""
    if prefixes is None:
        return
    if isinstance(prefixes, str):
        raise TypeError(f'{owner}: {key} must be a list of module names, '
                        f'got the string {prefixes!r}')
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(matches_prefix(name, [prefix]) for name in names):
            raise ValueError(
                f'{owner}: {key} names {prefix!r}, which holds no parameter '
                f'of {type(model).__name__} (modules with parameters: '
                f'{sorted({n.rsplit(".", 1)[0] for n in names})[:20]} ...)')


def set_trainable(model: nn.Module, prefixes: Optional[Sequence[str]],
                  allowed: Dict[str, bool]) -> Dict[str, bool]:
    """Let exactly the parameters under ``prefixes`` train.

    Args:
        model (nn.Module): The (unwrapped) model.
        prefixes (Sequence[str], optional): Module names; None = all.
        allowed (dict[str, bool]): ``requires_grad`` of every parameter when
            training started; a parameter that was False stays False.

    Returns:
        dict[str, bool]: The previous ``requires_grad`` of every parameter.
    """
    previous = {}
    for name, param in model.named_parameters():
        previous[name] = param.requires_grad
        param.requires_grad_(
            allowed.get(name, False) and matches_prefix(name, prefixes))
    return previous


def restore_trainable(model: nn.Module, flags: Dict[str, bool]) -> None:
    """Undo :func:`set_trainable`."""
    for name, param in model.named_parameters():
        param.requires_grad_(flags[name])


def check_freezing_allowed(runner, owner: str) -> None:
    """Raise if the model wrapper cannot train with frozen parameters."""
    model = runner.model
    if isinstance(model, DistributedDataParallel) and \
            not model.find_unused_parameters:
        raise ValueError(
            f'{owner} freezes parameters during training, which '
            'DistributedDataParallel supports only with '
            "find_unused_parameters=True; set model_wrapper_cfg = dict(type="
            "'MMDistributedDataParallel', find_unused_parameters=True) in the "
            'config')


def check_epoch_based(runner, owner: str) -> None:
    """Raise unless training runs in epochs (phases are counted in
    epochs)."""
    if not isinstance(runner.train_loop, EpochBasedTrainLoop):
        raise TypeError(
            f'{owner} needs train_cfg type EpochBasedTrainLoop, got '
            f'{type(runner.train_loop).__name__}')


def summarize(model: nn.Module) -> str:
    """``"backbone: frozen, cls_head.add_on_layers: trainable, ..."``."""
    groups: Dict[str, set] = {}
    for name, param in model.named_parameters():
        parts = name.split('.')
        group = '.'.join(parts[:2]) if parts[0] == 'cls_head' else parts[0]
        groups.setdefault(group, set()).add(param.requires_grad)
    words = {
        frozenset([True]): 'trainable',
        frozenset([False]): 'frozen',
        frozenset([True, False]): 'partly trainable'
    }
    return ', '.join(f'{g}: {words[frozenset(s)]}' for g, s in groups.items())


@HOOKS.register_module()
class TrainingPhaseHook(Hook):
    """Switch between the warm-up and the joint phase by epoch.

    Args:
        warmup_epochs (int): Number of warm-up epochs (0 = no warm-up).
        warmup_trainable (Sequence[str]): Modules that train during warm-up.
            Defaults to the head's add-on layers and prototypes.
        joint_trainable (Sequence[str], optional): Modules that train in the
            joint phase; None = every parameter. Defaults to None.
    """

    priority = 'NORMAL'

    def __init__(self,
                 warmup_epochs: int,
                 warmup_trainable: Sequence[str] = (
                     'cls_head.add_on_layers', 'cls_head.prototype_layer'),
                 joint_trainable: Optional[Sequence[str]] = None) -> None:
        if not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f'{type(self).__name__}: warmup_epochs must be '
                             f'a non-negative int, got {warmup_epochs!r}')
        self.warmup_epochs = warmup_epochs
        self.warmup_trainable = list(warmup_trainable)
        self.joint_trainable = None if joint_trainable is None else list(
            joint_trainable)
        self._allowed: Dict[str, bool] = {}
        self._phase: Optional[str] = None

    def phase(self, epoch: int) -> str:
        """``'warm-up'`` or ``'joint'`` for a 0-based epoch."""
        return 'warm-up' if epoch < self.warmup_epochs else 'joint'

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        name = type(self).__name__
        check_prefixes(model, self.warmup_trainable, name, 'warmup_trainable')
        check_prefixes(model, self.joint_trainable, name, 'joint_trainable')
        check_freezing_allowed(runner, name)
        check_epoch_based(runner, name)
        self._allowed = {
            n: p.requires_grad
            for n, p in model.named_parameters()
        }
        self._phase = None

    def before_train_epoch(self, runner) -> None:
        phase = self.phase(runner.epoch)
        model = unwrap_model(runner.model)
        prefixes = (
            self.warmup_trainable
            if phase == 'warm-up' else self.joint_trainable)
        set_trainable(model, prefixes, self._allowed)
        if phase != self._phase:
            last = (
                self.warmup_epochs
                if phase == 'warm-up' else runner.max_epochs)
            runner.logger.info(
                f'Training phase "{phase}" (epochs {runner.epoch + 1}-'
                f'{last}): {summarize(model)}')
            self._phase = phase

    def after_train(self, runner) -> None:
        restore_trainable(unwrap_model(runner.model), self._allowed)
