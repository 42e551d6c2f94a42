# Table 1, Hyperbolic ResNet: hyperbolic logits, no prototypes.
# Toy size: slim R3D-18 up to layer 3 (r3d18_toy_backbone.py), trains on
# the CPU; pools by the maximum without dropout, as the toy 3D-ResNet does
# (i3d_r3d18_toy.py).
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_hyperbolic.py',
    '../_base_/models/r3d18_toy_backbone.py', '../_base_/datasets/toy.py',
    '../_base_/schedules/i3d_toy.py'
]

model = dict(
    backbone={{_base_.toy_backbone}},
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        hierarchy_file={{_base_.hierarchy_file}},
        label_map_file={{_base_.label_map_file}},
        embedding_file={{_base_.embedding_file}},
        in_channels={{_base_.toy_feature_channels}},
        spatial_type='max',
        dropout_ratio=0.0))
