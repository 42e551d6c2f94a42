# Table 1, ProtoPNet-3D: Euclidean prototypes, softmax classifier.
# R3D-18 trained from scratch; ./protopnet_r3d18_k400_ucf101.py starts it from
# Kinetics-400 weights (README, "Kinetics-400 weights").
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_protopnet.py',
    '../_base_/datasets/ucf101.py', '../_base_/schedules/hproto.py'
]

model = dict(cls_head=dict(num_classes={{_base_.num_classes}}))
load_from = None
