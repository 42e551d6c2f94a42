# Training procedure of the prototype networks (paper Sec. 4.4-4.5) for
# UCF-101 and ActivityNet, after ProtoPNet's schedule:
#   warm-up  epochs 1-5: backbone frozen; add-on layers, prototypes and the
#            last layer train.
#   joint    epochs 6-30: everything trains, per-group learning rates below.
#   projection after epochs 10, 20 and 30 (every prototype becomes its
#            nearest training patch of its own node or a node under it),
#            each followed by a last-layer phase (only cls_head.last_layer
#            trains; 5 passes over the training set, ProtoPNet uses 20).
# A run resumed with --resume continues in the same phase; see
# hprotopnet_mm/engine/hooks/ for what is saved.
warmup_epochs = 5
max_epochs = 30
projection_begin = 10
projection_interval = 10

train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# ProtoPNet's learning rates: 3e-3 for the add-on layers and prototypes,
# 1e-4 for the backbone and the last layer; no weight decay on the
# prototypes, and none on the last layer, which the loss regularises (L1).
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-3, weight_decay=1e-3),
    clip_grad=dict(max_norm=40, norm_type=2),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=1 / 30),
            'cls_head.add_on_layers': dict(lr_mult=1.0),
            'cls_head.prototype_layer': dict(lr_mult=1.0, decay_mult=0.0),
            'cls_head.last_layer': dict(lr_mult=1 / 30, decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[15, 25],
        gamma=0.1)
]

# Phases freeze parameters, which DistributedDataParallel allows only with
# find_unused_parameters=True.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(
        type='TrainingPhaseHook',
        warmup_epochs=warmup_epochs,
        warmup_trainable=[
            'cls_head.add_on_layers', 'cls_head.prototype_layer',
            'cls_head.last_layer'
        ],
        joint_trainable=None),
    dict(
        type='PrototypeProjectionHook',
        interval=projection_interval,
        begin=projection_begin,
        at_end=True,
        last_layer=dict(
            epochs=5,
            optim_wrapper=dict(
                optimizer=dict(type='Adam', lr=1e-4),
                clip_grad=dict(max_norm=40, norm_type=2)),
            log_interval=50)),
    # ProtoPNet's prune step (off): add prune=dict(k=6, min_own=3).
]

# A fixed seed makes the phases and projections reproducible; EpochSeedHook
# reseeds every epoch so that a resumed run draws the same random numbers.
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
auto_scale_lr = dict(enable=False, base_batch_size=64)
