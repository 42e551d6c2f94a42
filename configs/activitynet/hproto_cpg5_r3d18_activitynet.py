# Table 1, Hierarchical ProtoPNet CPG: 5 prototypes per leaf and per ancestor,
# otherwise as hproto_cpg10_r3d18_activitynet.py.
# R3D-18 starts from Kinetics-400 weights when you have them: set
# load_from (weights-only; see README, "Checkpoints").
_base_ = ['./hproto_cpg10_r3d18_activitynet.py']

model = dict(
    cls_head=dict(num_prototypes_per_class=5, num_prototypes_per_ancestor=5))
