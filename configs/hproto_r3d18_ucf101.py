# The full model on UCF-101 split 1: Hierarchical ProtoPNet CPG (10
# prototypes per leaf and per ancestor) on R3D-18, hyperbolic class
# embeddings, warm-up / joint / projection / last-layer schedule.
#   python tools/train.py configs/hproto_r3d18_ucf101.py
# The other rows of the paper's Table 1 are in configs/ucf101/.
_base_ = ['./ucf101/hproto_cpg10_r3d18_ucf101.py']
