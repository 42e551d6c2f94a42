"""Explanations of prototype networks: activation maps, prototype sources,
contributions, abstaining hierarchical prediction, the deletion test and the
HTML report (paper Sec. 4.6, 6.2)."""
from .abstain import (ROOT, abstain_predict, abstain_sweep, answer_covers,
                      answer_level, format_sweep_table, node_probabilities,
                      plot_abstain_sweep)
from .activation_maps import (cell_footprint, clip_activation_maps,
                              frame_boxes, high_activation_mask,
                              similarity_maps, spread_to_feature_grid,
                              upsample_activation)
from .batch import explain_split, read_split_list, summarize, test_video_root
from .clip_video import clip_video, heat_overlay
from .contributions import (node_log_probabilities, node_logits,
                            prototype_contributions)
from .explainer import Explanation, PrototypeExplainer
from .faithfulness import deletion_faithfulness, occlude, random_region_masks
from .loading import (VideoReadError, add_model_arguments, check_video,
                      find_projection_pipeline, find_test_pipeline,
                      head_outputs, load_clips, load_config, load_recognizer,
                      preprocess)
from .report_html import render_html, write_report
from .source_clips import SourceClips

__all__ = [
    'ROOT', 'abstain_predict', 'abstain_sweep', 'answer_covers',
    'answer_level', 'format_sweep_table', 'node_probabilities',
    'plot_abstain_sweep', 'cell_footprint', 'clip_activation_maps',
    'frame_boxes', 'high_activation_mask', 'similarity_maps',
    'spread_to_feature_grid', 'upsample_activation', 'explain_split',
    'read_split_list', 'summarize', 'test_video_root', 'clip_video',
    'heat_overlay', 'node_log_probabilities', 'node_logits',
    'prototype_contributions', 'Explanation', 'PrototypeExplainer',
    'deletion_faithfulness', 'occlude', 'random_region_masks',
    'VideoReadError', 'add_model_arguments', 'head_outputs', 'check_video',
    'load_clips', 'load_config', 'load_recognizer', 'preprocess',
    'find_projection_pipeline', 'find_test_pipeline', 'render_html',
    'write_report', 'SourceClips'
]
