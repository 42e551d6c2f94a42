# Table 1, Hierarchical ProtoPNet: leaf prototypes (10 per leaf), hyperbolic
# logits, otherwise as hproto_cpg10_r3d18_ucf101.py.
# R3D-18 starts from Kinetics-400 weights when you have them: set
# load_from (weights-only; see README, "Checkpoints").
_base_ = ['./hproto_cpg10_r3d18_ucf101.py']

model = dict(cls_head=dict(num_prototypes_per_ancestor=0))
