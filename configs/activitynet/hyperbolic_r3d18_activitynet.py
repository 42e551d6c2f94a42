# Table 1, Hyperbolic ResNet: hyperbolic logits, no prototypes.
# R3D-18 starts from Kinetics-400 weights when you have them: set
# load_from (weights-only; see README, "Checkpoints").
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_hyperbolic.py',
    '../_base_/datasets/activitynet.py', '../_base_/schedules/supervised.py'
]

model = dict(
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        hierarchy_file={{_base_.hierarchy_file}},
        label_map_file={{_base_.label_map_file}},
        embedding_file={{_base_.embedding_file}}))
load_from = None
