# Table 1, 3D-ResNet: R3D-18 with MMAction2's I3DHead.
# R3D-18 trained from scratch; ./i3d_r3d18_k400_activitynet.py starts it from
# Kinetics-400 weights (README, "Kinetics-400 weights").
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_i3dhead.py',
    '../_base_/datasets/activitynet.py', '../_base_/schedules/supervised.py'
]

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
load_from = None
