# Table 1, Hierarchical ProtoPNet: leaf prototypes, hyperbolic logits.
# R3D-18 starts from Kinetics-400 weights when you have them: set
# load_from (weights-only; see README, "Checkpoints").
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_hproto.py',
    '../_base_/datasets/activitynet.py', '../_base_/schedules/hproto.py'
]

model = dict(
    cls_head=dict(
        num_classes={{_base_.num_classes}},
        hierarchy_file={{_base_.hierarchy_file}},
        label_map_file={{_base_.label_map_file}},
        embedding_file={{_base_.embedding_file}},
        num_prototypes_per_class=10,
        num_prototypes_per_ancestor=0))
load_from = None
