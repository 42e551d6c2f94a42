"""Training hooks: warm-up/joint phases, prototype projection with the
last-layer phase, per-epoch seeding, and the finite-loss guard."""
from .epoch_seed_hook import EpochSeedHook
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .prototype_projection_hook import PrototypeProjectionHook
from .training_phase_hook import TrainingPhaseHook

__all__ = [
    'EpochSeedHook', 'FiniteLossHook', 'NonFiniteLossError',
    'PrototypeProjectionHook', 'TrainingPhaseHook'
]
