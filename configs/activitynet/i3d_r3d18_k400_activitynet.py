# Table 1, 3D-ResNet (MMAction2's I3DHead), with R3D-18 started from
# torchvision's Kinetics-400 weights, as in the paper. Get them once (README,
# "Kinetics-400 weights"):
#   python tools/convert_torchvision_weights.py r3d_18 r3d_18-b3b3357e.pth \
#       checkpoints/r3d_18_kinetics400.pth
# The backbone is torchvision's R3D-18
# (../_base_/models/r3d18_torchvision.py: no max-pool after the stem) with
# this project's strides in time, which the weights do not depend on:
# 16x112x112 clips give a 512x4x7x7 feature map.
_base_ = ['./i3d_r3d18_activitynet.py']

model = dict(backbone=dict(with_pool1=False))
load_from = 'checkpoints/r3d_18_kinetics400.pth'
