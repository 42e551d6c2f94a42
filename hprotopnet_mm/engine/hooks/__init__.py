"""Training hooks: warm-up/joint phases, prototype projection with the
last-layer phase, per-epoch seeding, the finite-loss guard and the count of
videos that failed to decode."""
from .bad_video_hook import BadVideoHook
from .epoch_seed_hook import EpochSeedHook
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .prototype_projection_hook import PrototypeProjectionHook
from .training_phase_hook import TrainingPhaseHook

__all__ = [
    'BadVideoHook', 'EpochSeedHook', 'FiniteLossHook', 'NonFiniteLossError',
    'PrototypeProjectionHook', 'TrainingPhaseHook'
]
