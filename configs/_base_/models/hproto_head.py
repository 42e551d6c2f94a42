# The hierarchical prototype head (paper Sec. 4.1-4.3) for any backbone, as
# a variable: model bases and configs set in_channels (the backbone's
# channels), and the dataset config supplies num_classes and the hierarchy,
# label map and embedding files; the variant configs set the prototype
# counts. Used by r3d18_hproto.py and the zoo configs (configs/zoo/).
hproto_head = dict(
    type='HierarchicalProtoHead',
    proto_channels=128,
    num_prototypes_per_class=10,
    num_prototypes_per_ancestor=0,
    prototype_shape=(1, 1, 1),
    temperature=1.0,
    loss_cls=dict(
        type='HyperbolicProtoLoss',
        cluster_coefs=(0.8, 0.5, 0.3),
        separation_coefs=(0.08, 0.11, 0.13),
        l1_coef=1e-4),
    # per-clip scores reach the metric: clip- and video-level accuracy
    average_clips=None)
