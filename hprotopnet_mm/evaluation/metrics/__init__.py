from .hierarchical_accuracy import (HierarchicalAccuracy, evaluate_records,
                                    group_by_video, hierarchical_accuracy,
                                    prediction_record, rank_predictions)

__all__ = [
    'HierarchicalAccuracy', 'evaluate_records', 'group_by_video',
    'hierarchical_accuracy', 'prediction_record', 'rank_predictions'
]
