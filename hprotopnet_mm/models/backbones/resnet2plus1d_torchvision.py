"""MMAction2's R(2+1)D laid out as torchvision's ``r2plus1d_18``."""
from mmcv.cnn import build_norm_layer
from torch import nn

from mmaction.models.backbones.resnet2plus1d import ResNet2Plus1d
from mmaction.models.backbones.resnet3d import BasicBlock3d, ResNet3d
from mmaction.models.common import Conv2plus1d
from mmaction.registry import MODELS


def factorised_mid_channels(in_channels: int, out_channels: int) -> int:
    """Channels between the spatial and the temporal conv of a (2+1)D block.

    ``M = floor(t * d^2 * N_in * N_out / (d^2 * N_in + t * N_out))`` with
    t = 3, d = 3 (Tran et al., 2018), so that the factorised 3x3x3 conv has
    about the parameters of a full one. torchvision computes it once per
    block from the block's (inplanes, planes) and uses it for both convs.

    Args:
        in_channels (int): Input channels of the block (inplanes).
        out_channels (int): Output channels of the block (planes).

    Returns:
        int: M.
    """
    return (in_channels * out_channels * 27) // (
        in_channels * 9 + 3 * out_channels)


def set_mid_channels(conv: Conv2plus1d, mid_channels: int) -> None:
    """Rebuild ``conv``'s spatial conv, norm and temporal conv around
    ``mid_channels`` channels; kernel sizes, strides and paddings stay."""
    spatial, temporal = conv.conv_s, conv.conv_t
    conv.conv_s = nn.Conv3d(
        spatial.in_channels,
        mid_channels,
        spatial.kernel_size,
        stride=spatial.stride,
        padding=spatial.padding,
        bias=spatial.bias is not None)
    _, conv.bn_s = build_norm_layer(conv.norm_cfg, mid_channels)
    conv.conv_t = nn.Conv3d(
        mid_channels,
        temporal.out_channels,
        temporal.kernel_size,
        stride=temporal.stride,
        padding=temporal.padding,
        bias=temporal.bias is not None)
    conv.init_weights()


def plain_shortcut(conv: Conv2plus1d) -> nn.Conv3d:
    """The 1x1x1 shortcut conv of ``conv``'s channels and strides, not
    factorised (torchvision's ``downsample``)."""
    stride = (conv.conv_t.stride[0], ) + tuple(conv.conv_s.stride[1:])
    return nn.Conv3d(
        conv.in_channels, conv.out_channels, 1, stride=stride, bias=False)


@MODELS.register_module()
class ResNet2Plus1dTorchvision(ResNet2Plus1d):
    """:class:`ResNet2Plus1d` with torchvision's R(2+1)D layout, so that
    torchvision's Kinetics-400 weights (``r2plus1d_18``) load into it and
    give the same features.

    MMAction2's ``ResNet2Plus1d`` (with ``conv_cfg=dict(type='Conv2plus1d')``)
    differs from torchvision's network in four places, which this class
    changes, and in nothing else:

    1. Stem: torchvision's 1x7x7 conv has ``stem_mid_channels`` = 45 output
       channels; ``Conv2plus1d`` would compute 83 from its kernel.
    2. Blocks: both (2+1)D convs of a block use
       :func:`factorised_mid_channels` of the block's (inplanes, planes);
       ``Conv2plus1d`` computes the second conv's from (planes, planes),
       which differs in the first block of layers 2-4.
    3. Shortcuts: a plain 1x1x1 conv; ``ResNet2Plus1d`` factorises it too.
    4. ``with_pool1=False`` removes the max-pool after the stem;
       ``ResNet2Plus1d.forward`` always applies it. ``with_pool2`` and
       ``out_indices`` are honoured as in :class:`ResNet3d`.

    Parameter names stay those of ``ResNet2Plus1d`` (``conv1.conv.conv_s``,
    ``layer1.0.conv1.conv.bn_s``, ``layer2.0.downsample.conv`` ...).

    Args:
        stem_mid_channels (int): Channels between the stem's spatial and
            temporal conv. Defaults to 45.
        **kwargs: Arguments of :class:`ResNet3d`; ``depth`` must be 18 or
            34 (basic blocks), ``conv_cfg`` defaults to ``Conv2plus1d``.
    """

    def __init__(self, stem_mid_channels: int = 45, **kwargs) -> None:
        kwargs.setdefault('conv_cfg', dict(type='Conv2plus1d'))
        super().__init__(**kwargs)
        if self.block is not BasicBlock3d:
            raise ValueError(
                f'{type(self).__name__}: torchvision\'s R(2+1)D layout has '
                f'basic blocks (depth 18 or 34), got depth={self.depth}')
        set_mid_channels(self.conv1.conv, stem_mid_channels)
        for name in self.res_layers:
            for block in getattr(self, name):
                mid = factorised_mid_channels(block.inplanes, block.planes)
                for conv in (block.conv1.conv, block.conv2.conv):
                    if conv.conv_s.out_channels != mid:
                        set_mid_channels(conv, mid)
                if block.downsample is not None:
                    block.downsample.conv = plain_shortcut(
                        block.downsample.conv)

    def forward(self, x):
        """As :meth:`ResNet3d.forward`: stem, ``maxpool`` if ``with_pool1``,
        the residual layers, ``pool2`` after layer 1 if ``with_pool2``; the
        outputs of ``out_indices``."""
        return ResNet3d.forward(self, x)
