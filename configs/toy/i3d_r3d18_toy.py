# Table 1, 3D-ResNet, toy size: the slim R3D-18 up to layer 3
# (r3d18_toy_backbone.py) with MMAction2's I3DHead pooling by the maximum
# (MaxPoolI3DHead) and no dropout. The toy's leaf cue is the motion of a
# small object: an average over the 8x4x4 map drowns it in the background's
# features and the head never learns the leaves (README, "Why the toy
# baseline pools by the maximum"). Also the backbone pre-training of the
# main job (tools/run_toy_demo.sh).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_i3dhead.py',
    '../_base_/models/r3d18_toy_backbone.py', '../_base_/datasets/toy.py',
    '../_base_/schedules/i3d_toy.py'
]

model = dict(
    backbone={{_base_.toy_backbone}},
    cls_head=dict(
        type='MaxPoolI3DHead',
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.toy_feature_channels}},
        spatial_type='max',
        dropout_ratio=0.0))
