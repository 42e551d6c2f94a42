# Table 1, Hyperbolic ResNet: hyperbolic logits, no prototypes.
# R3D-18 starts from Kinetics-400 weights when you have them: set
# load_from (weights-only; see README, "Checkpoints").
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_hyperbolic.py',
    '../_base_/datasets/activitynet.py', '../_base_/schedules/supervised.py'
]

model = dict(cls_head=_base_.hierarchy_head)
load_from = None
