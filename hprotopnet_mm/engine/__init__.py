from .checkpoint_trust import (UntrustedCheckpointError, load_trusted_checkpoint,
                               load_untrusted_checkpoint)
from .hooks import EpochSeedHook, PrototypeProjectionHook, TrainingPhaseHook
from .preflight import MissingPathError, check_config_paths
from .runner import HProtoRunner, build_runner

__all__ = [
    'EpochSeedHook', 'PrototypeProjectionHook', 'TrainingPhaseHook',
    'HProtoRunner', 'MissingPathError', 'build_runner', 'UntrustedCheckpointError',
    'check_config_paths', 'load_trusted_checkpoint', 'load_untrusted_checkpoint'
]
