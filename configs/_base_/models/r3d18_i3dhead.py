# Baseline: the plain 3D-ResNet with MMAction2's I3DHead.
_base_ = ['./r3d18.py']

model = dict(
    cls_head=dict(
        type='I3DHead',
        in_channels=512,
        spatial_type='avg',
        dropout_ratio=0.5,
        init_std=0.01,
        average_clips=None))
