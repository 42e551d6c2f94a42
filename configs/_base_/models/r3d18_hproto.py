# R3D-18 with the hierarchical prototype head (paper Sec. 4.1-4.3,
# hproto_head.py). The dataset config supplies num_classes and the
# hierarchy, label map and embedding files; the variant configs set the
# prototype counts.
_base_ = ['./r3d18.py', './hproto_head.py']

model = dict(cls_head=dict(_base_.hproto_head, in_channels=512))
