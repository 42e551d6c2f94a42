# Table 1, ProtoPNet-3D: Euclidean prototypes, softmax classifier.
# Toy size: slim R3D-18 up to a dilated layer 3 (r3d18_toy_backbone.py),
# trains on the CPU; cells centred and compared at unit norm, as the main
# toy model does (hproto_cpg_r3d18_toy.py).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_protopnet.py',
    '../_base_/models/r3d18_toy_backbone.py', '../_base_/datasets/toy.py',
    '../_base_/schedules/hproto_toy.py'
]

model = dict(
    backbone={{_base_.toy_prototype_backbone}},
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        in_channels={{_base_.toy_feature_channels}},
        proto_channels=64,
        unit_norm=True,
        centring_grid={{_base_.toy_feature_grid}}))
