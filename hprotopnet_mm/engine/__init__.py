from .checkpoint_trust import (UntrustedCheckpointError,
                               load_trusted_checkpoint,
                               load_untrusted_checkpoint)
from .hooks import EpochSeedHook, PrototypeProjectionHook, TrainingPhaseHook
from .loops import LastLayerLoop
from .preflight import MissingPathError, check_config_paths
from .runner import HProtoRunner, PlainCheckpointHook, build_runner

__all__ = [
    'EpochSeedHook', 'PrototypeProjectionHook', 'TrainingPhaseHook',
    'LastLayerLoop', 'HProtoRunner', 'PlainCheckpointHook', 'MissingPathError',
    'build_runner', 'UntrustedCheckpointError', 'check_config_paths',
    'load_trusted_checkpoint', 'load_untrusted_checkpoint'
]
