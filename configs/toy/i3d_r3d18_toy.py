# Table 1, 3D-ResNet: R3D-18 with MMAction2's I3DHead.
# Toy size: slim R3D-18 up to layer 3 (r3d18_toy_backbone.py), trains on
# the CPU.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_i3dhead.py',
    '../_base_/models/r3d18_toy_backbone.py',
    '../_base_/datasets/toy.py', '../_base_/schedules/i3d_toy.py'
]

model = dict(
    backbone={{_base_.toy_backbone}},
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.toy_feature_channels}}))
