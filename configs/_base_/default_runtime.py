# Runtime shared by every config of the project: MMAction2's defaults, the
# plugin loaded through custom_imports, and the project's Runner (trusted
# resume, atomic checkpoints).
_base_ = ['mmaction::_base_/default_runtime.py']

custom_imports = dict(imports=['hprotopnet_mm'], allow_failed_imports=False)
runner_type = 'HProtoRunner'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, ignore_last=False),
    checkpoint=dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best=None))
