# Plain supervised schedule for the baseline heads on the toy dataset.
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=12, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=12, eta_min=1e-5, by_epoch=True)
]

# A fixed seed: the main job's backbone pre-training, and so every figure
# downstream of it, is the same on every run on the same machine.
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
