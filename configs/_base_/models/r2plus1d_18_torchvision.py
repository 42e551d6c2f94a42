# torchvision's R(2+1)D-18 (torchvision.models.video.r2plus1d_18): every
# 3x3x3 convolution factorised into 1x3x3 and 3x1x1 ones.
# ResNet2Plus1dTorchvision is MMAction2's ResNet2Plus1d with torchvision's
# stem (45 channels between its two convolutions), mid-channel counts and
# plain 1x1x1 shortcuts (hprotopnet_mm/models/backbones/); strides as in
# r3d18_torchvision.py. A 16x112x112 clip gives a 512x2x7x7 feature map.
# Weights: tools/convert_torchvision_weights.py r2plus1d_18.
_base_ = ['./r3d18_torchvision.py']

model = dict(
    backbone=dict(
        type='ResNet2Plus1dTorchvision', conv_cfg=dict(type='Conv2plus1d')))
