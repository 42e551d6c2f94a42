# Table 1, ProtoPNet-3D: Euclidean prototypes, softmax classifier.
# Toy size: slim backbone (base_channels=16), trains on the CPU.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_protopnet.py',
    '../_base_/datasets/toy.py', '../_base_/schedules/hproto_toy.py'
]

model = dict(
    backbone=dict(base_channels=16),
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        in_channels=128,
        proto_channels=64))
