"""Datasets of the project: a generated, hierarchical toy action dataset,
a video dataset that checks its annotation list, and ActivityNet's segments
read from its official annotation file."""
from .activitynet_dataset import ActivityNetSegmentDataset
from .checked_video_dataset import AnnotationError, CheckedVideoDataset
from .synthetic_activitynet import (SYNTHETIC_TAXONOMY, SyntheticVideo,
                                    cut_segment, read_frame_codes,
                                    write_synthetic_activitynet)
from .toy_dataset import (ToyDatasetFiles, clip_rng, make_toy_dataset,
                          toy_object_track)
from .toy_hierarchy import (LEVEL_NAMES, MOTION_FAMILIES, OBJECTS, SCENES,
                            Motion, Scene, SceneObject, ToyHierarchy, ToyLeaf,
                            build_toy_hierarchy)
from .toy_videos import (ClipParams, object_track, read_video, render_clip,
                         render_clip_from_params, sample_clip_params,
                         write_video)
from .segment_sampling import DecordSegmentInit, segment_frame_range

__all__ = [
    'ActivityNetSegmentDataset', 'SYNTHETIC_TAXONOMY', 'SyntheticVideo',
    'cut_segment', 'read_frame_codes', 'write_synthetic_activitynet',
    'DecordSegmentInit', 'segment_frame_range',
    'AnnotationError', 'CheckedVideoDataset', 'ToyDatasetFiles', 'clip_rng',
    'make_toy_dataset', 'toy_object_track', 'LEVEL_NAMES', 'MOTION_FAMILIES', 'OBJECTS', 'SCENES',
    'Motion', 'Scene', 'SceneObject', 'ToyHierarchy', 'ToyLeaf',
    'build_toy_hierarchy', 'ClipParams', 'object_track', 'read_video',
    'render_clip', 'render_clip_from_params', 'sample_clip_params',
    'write_video'
]
