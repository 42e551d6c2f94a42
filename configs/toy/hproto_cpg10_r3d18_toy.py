# Table 1, Hierarchical ProtoPNet CPG: 10 prototypes per leaf and per ancestor.
# Toy size: the main toy model (hproto_cpg_r3d18_toy.py) with other
# prototype counts.
_base_ = ['./hproto_cpg_r3d18_toy.py']

model = dict(
    cls_head=dict(num_prototypes_per_class=10, num_prototypes_per_ancestor=10))
