"""Pure metric computations on numpy arrays (as MMAction2 keeps them in
``mmaction.evaluation.functional``): :mod:`.hierarchical_accuracy` holds the
metric's math, :mod:`.prediction_records` turns recognizer outputs into its
inputs."""
from .hierarchical_accuracy import (PREDICTION_MODES, SCORE_TYPES, as_k_tuple,
                                    average_probabilities, clip_probabilities,
                                    hierarchical_accuracy, rank_predictions,
                                    ranking_metrics)
from .prediction_records import (evaluate_records, group_by_video,
                                 prediction_record)

__all__ = [
    'PREDICTION_MODES', 'SCORE_TYPES', 'as_k_tuple', 'average_probabilities',
    'clip_probabilities', 'evaluate_records', 'group_by_video',
    'hierarchical_accuracy', 'prediction_record', 'rank_predictions',
    'ranking_metrics'
]
