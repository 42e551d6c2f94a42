"""Training hooks: warm-up/joint phases, prototype projection with the
last-layer phase, and per-epoch seeding."""
from .epoch_seed_hook import EpochSeedHook
from .prototype_projection_hook import PrototypeProjectionHook
from .training_phase_hook import TrainingPhaseHook

__all__ = ['EpochSeedHook', 'PrototypeProjectionHook', 'TrainingPhaseHook']
