# Training procedure of the prototype networks (paper Sec. 4.4-4.5) scaled to
# the toy dataset (a pre-trained backbone, given with load_from; about two
# minutes on CPU):
#   warm-up  epochs 1-2: backbone frozen; add-on layers, prototypes and the
#            last layer train.
#   joint    epochs 3-12: everything trains.
#   projection after epochs 8 and 12, each followed by 20 iterations of the
#            last-layer phase (only cls_head.last_layer trains).
# See configs/_base_/schedules/hproto.py for the full-size schedule.
warmup_epochs = 2
max_epochs = 12
projection_begin = 8
projection_interval = 4

train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# ProtoPNet's rates for a pre-trained backbone (1e-4; 3e-3 for the add-on
# layers and prototypes); the last layer at 1e-3 learns within the short
# schedule. A backbone trained from scratch needs about 1e-3
# (optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult=0.33).
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=3e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=1 / 30),
            'cls_head.add_on_layers': dict(lr_mult=1.0),
            'cls_head.prototype_layer': dict(lr_mult=1.0, decay_mult=0.0),
            'cls_head.last_layer': dict(lr_mult=1 / 3, decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[10],
        gamma=0.1)
]

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
            iters=20,
            optim_wrapper=dict(
                optimizer=dict(type='Adam', lr=1e-3),
                clip_grad=dict(max_norm=40, norm_type=2)),
            log_interval=10)),
    # ProtoPNet's prune step (off): add prune=dict(k=6, min_own=3).
]

randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
auto_scale_lr = dict(enable=False, base_batch_size=8)
