"""Evaluation: the hierarchical accuracy metric, its computation and result
tables."""
from .functional import (evaluate_records, group_by_video,
                         hierarchical_accuracy, prediction_record,
                         rank_predictions)
from .metrics import HierarchicalAccuracy
from .metrics_table import dump_metrics_json, format_metrics_table

__all__ = [
    'HierarchicalAccuracy', 'dump_metrics_json', 'evaluate_records',
    'format_metrics_table', 'group_by_video', 'hierarchical_accuracy',
    'prediction_record', 'rank_predictions'
]
