# torchvision's MC3-18 (torchvision.models.video.mc3_18) as MMAction2's
# ResNet3d: R3D-18 in torchvision's layout (r3d18_torchvision.py) whose
# layers 2-4 use 1x3x3 convolutions and never stride time. A 16x112x112
# clip gives a 512x16x7x7 feature map. Weights:
# tools/convert_torchvision_weights.py mc3_18.
_base_ = ['./r3d18_torchvision.py']

model = dict(
    backbone=dict(inflate=(1, 0, 0, 0), temporal_strides=(1, 1, 1, 1)))
