# Runtime shared by every config of the project: MMAction2's defaults, the
# plugin loaded through custom_imports, and the project's Runner (weights-only
# checkpoints written atomically, robust auto-resume).
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['hprotopnet_mm'], allow_failed_imports=False)
runner_type = 'HProtoRunner'

# FiniteLossHook stops a run whose loss turns NaN or infinite, naming the
# iteration; BadVideoHook counts the samples that stood in for videos that
# failed to decode (on_bad_video='skip') and stops the run above the
# dataset's max_bad_ratio. They sit in default_hooks so configs that set
# custom_hooks keep them.
default_hooks = dict(
    finite_loss=dict(type='FiniteLossHook'),
    bad_videos=dict(type='BadVideoHook'),
    logger=dict(type='LoggerHook', interval=10, ignore_last=False),
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best=None))
