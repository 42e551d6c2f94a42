# Baseline: ProtoPNet-3D. Euclidean prototypes, similarities -> linear ->
# softmax over the classes, ProtoPNet's costs and last-layer initialisation.
_base_ = ['./r3d18.py']

model = dict(
    cls_head=dict(
        type='ProtoPNetHead',
        in_channels=512,
        proto_channels=128,
        num_prototypes_per_class=10,
        prototype_shape=(1, 1, 1),
        loss_cls=dict(
            type='ProtoPNetLoss',
            cluster_coef=0.8,
            separation_coef=0.08,
            l1_coef=1e-4),
        average_clips=None))
