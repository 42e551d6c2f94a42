# Plain supervised schedule for the baseline heads on the toy dataset
# (Adam, cosine decay). 25 epochs of 48 iterations on the default toy data:
# the static cues (background, object) are learned within a few epochs, the
# motion that tells siblings apart takes most of the schedule.
max_epochs = 25
train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=1e-5,
        by_epoch=True)
]

# A fixed seed: the main job's backbone pre-training, and so every figure
# downstream of it, is the same on every run on the same machine.
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
