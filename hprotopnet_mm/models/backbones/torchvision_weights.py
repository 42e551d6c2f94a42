"""Parameter names of torchvision's video ResNets in MMAction2's backbones.

torchvision's ``r3d_18``, ``mc3_18`` and ``r2plus1d_18`` (``VideoResNet``)
name their modules ``stem``, ``layerN.B.convK`` (an ``nn.Sequential`` of
conv and norm) and ``layerN.B.downsample``; MMAction2's ``ResNet3d`` (and
:class:`ResNet2Plus1dTorchvision`) name the same tensors ``conv1``,
``layerN.B.convK.conv`` / ``.bn`` and ``layerN.B.downsample.conv`` /
``.bn``. :func:`rename_torchvision_state_dict` maps one onto the other and
checks every tensor against the backbone it is meant for. Nothing here
imports torchvision.
"""
import re
from typing import Dict, List, Mapping, Tuple

import torch
from torch import Tensor

# Placeholders of the name templates below and what they match.
_FIELDS = {
    'layer': r'layer\d+\.\d+',
    'conv': r'conv[12]',
    'p': r'weight|bias|running_mean|running_var|num_batches_tracked',
}

# (torchvision name, MMAction2 name) templates, per architecture.
_SHORTCUT = [
    ('{layer}.downsample.0.weight', '{layer}.downsample.conv.weight'),
    ('{layer}.downsample.1.{p}', '{layer}.downsample.bn.{p}'),
]
_RESNET3D = [
    ('stem.0.weight', 'conv1.conv.weight'),
    ('stem.1.{p}', 'conv1.bn.{p}'),
    ('{layer}.{conv}.0.weight', '{layer}.{conv}.conv.weight'),
    ('{layer}.{conv}.1.{p}', '{layer}.{conv}.bn.{p}'),
] + _SHORTCUT
_RESNET2PLUS1D = [
    ('stem.0.weight', 'conv1.conv.conv_s.weight'),
    ('stem.1.{p}', 'conv1.conv.bn_s.{p}'),
    ('stem.3.weight', 'conv1.conv.conv_t.weight'),
    ('stem.4.{p}', 'conv1.bn.{p}'),
    ('{layer}.{conv}.0.0.weight', '{layer}.{conv}.conv.conv_s.weight'),
    ('{layer}.{conv}.0.1.{p}', '{layer}.{conv}.conv.bn_s.{p}'),
    ('{layer}.{conv}.0.3.weight', '{layer}.{conv}.conv.conv_t.weight'),
    ('{layer}.{conv}.1.{p}', '{layer}.{conv}.bn.{p}'),
] + _SHORTCUT
NAME_MAPS = {
    'r3d_18': _RESNET3D,
    'mc3_18': _RESNET3D,
    'r2plus1d_18': _RESNET2PLUS1D,
}
# torchvision's Kinetics-400 classifier; the heads of this project replace it.
CLASSIFIER = ('fc.weight', 'fc.bias')


def _pattern(template: str) -> 're.Pattern':
    """A regex matching ``template`` with its placeholders as named groups."""
    parts = re.split(r'\{(\w+)\}', template)
    regex = ''.join(f'(?P<{part}>{_FIELDS[part]})' if i %
                    2 else re.escape(part) for i, part in enumerate(parts))
    return re.compile(f'^{regex}$')


def _translate(name: str, pairs: List[Tuple[str, str]], source: int):
    """``name`` translated from side ``source`` (0: torchvision,
    1: MMAction2) of ``pairs`` to the other side, or None."""
    for pair in pairs:
        match = _pattern(pair[source]).match(name)
        if match:
            return pair[1 - source].format(**match.groupdict())
    return None


def _listing(names: List[str], limit: int = 20) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f' ... ({len(names)} in all)'
                    if len(names) > limit else '')


def rename_torchvision_state_dict(arch: str,
                                  state_dict: Mapping[str, Tensor],
                                  expected: Mapping[str, torch.Size],
                                  source: str = 'state dict'
                                  ) -> Tuple[Dict[str, Tensor], List[str]]:
    """torchvision's parameters under the names of an MMAction2 backbone.

    Args:
        arch (str): ``'r3d_18'``, ``'mc3_18'`` or ``'r2plus1d_18'``.
        state_dict (Mapping[str, Tensor]): ``model.state_dict()`` of
            ``torchvision.models.video.<arch>``.
        expected (Mapping[str, torch.Size]): Name -> shape of every tensor of
            the backbone's own ``state_dict()`` (the base config
            ``configs/_base_/models/*_torchvision.py`` of ``arch``).
        source (str): What ``state_dict`` is, for the error messages.

    Returns:
        tuple: The tensors under the backbone's names (exactly the names of
        ``expected``), and the names of the classifier tensors left out.

    Raises:
        ValueError: Naming every tensor of ``state_dict`` that ``arch`` does
            not have, every tensor the backbone expects and ``state_dict``
            lacks, and every shape that differs.
    """
    if arch not in NAME_MAPS:
        raise ValueError(f'unknown architecture {arch!r}; one of '
                         f'{", ".join(NAME_MAPS)}')
    pairs = NAME_MAPS[arch]
    renamed, dropped, unknown = {}, [], []
    for name, tensor in state_dict.items():
        if name in CLASSIFIER:
            dropped.append(name)
            continue
        new_name = _translate(name, pairs, 0)
        if new_name is None or new_name not in expected:
            unknown.append(name)
        else:
            renamed[new_name] = tensor
    missing = [
        _translate(name, pairs, 1) or name for name in expected
        if name not in renamed
    ]
    wrong_shape = [
        f'{_translate(name, pairs, 1)} {tuple(tensor.shape)} (expected '
        f'{tuple(expected[name])})' for name, tensor in renamed.items()
        if tensor.shape != expected[name]
    ]
    problems = []
    if unknown:
        problems.append(f'unknown tensors (not in {arch}): '
                        f'{_listing(unknown)}')
    if missing:
        problems.append(f'missing tensors of {arch}: {_listing(missing)}')
    if wrong_shape:
        problems.append(f'tensors of another shape than {arch}\'s: '
                        f'{_listing(wrong_shape)}')
    if problems:
        raise ValueError(f'{source} is not a torchvision {arch} state dict: ' +
                         '; '.join(problems))
    return renamed, dropped
