# Table 1, Hierarchical ProtoPNet CPG: 10 prototypes per leaf and per ancestor.
# R3D-18 trained from scratch; ./hproto_cpg10_r3d18_k400_ucf101.py starts it
# from Kinetics-400 weights (README, "Kinetics-400 weights").
_base_ = [
    '../_base_/default_runtime.py', '../_base_/models/r3d18_hproto.py',
    '../_base_/datasets/ucf101.py', '../_base_/schedules/hproto.py'
]

model = dict(
    cls_head=dict(
        _base_.hierarchy_head,
        num_prototypes_per_class=10,
        num_prototypes_per_ancestor=10))
load_from = None
