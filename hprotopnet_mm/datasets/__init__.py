"""Datasets of the project: a generated, hierarchical toy action dataset,
a video dataset that checks its annotation list and survives videos that
fail to decode, and ActivityNet's segments read from its official
annotation file."""
from .activitynet_dataset import ActivityNetSegmentDataset
from .checked_video_dataset import STAND_IN_KEY, CheckedVideoDataset
from .decoding_records import name_crashed_workers
from .errors import AnnotationError, BadVideoError
from .segment_sampling import DecordSegmentInit, segment_frame_range
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
from .video_probe import probe_videos

__all__ = [
    'ActivityNetSegmentDataset', 'SYNTHETIC_TAXONOMY', 'SyntheticVideo',
    'cut_segment', 'read_frame_codes', 'write_synthetic_activitynet',
    'DecordSegmentInit', 'segment_frame_range', 'AnnotationError',
    'BadVideoError', 'CheckedVideoDataset', 'STAND_IN_KEY',
    'name_crashed_workers', 'probe_videos', 'ToyDatasetFiles', 'clip_rng',
    'make_toy_dataset', 'toy_object_track', 'LEVEL_NAMES', 'MOTION_FAMILIES',
    'OBJECTS', 'SCENES', 'Motion', 'Scene', 'SceneObject', 'ToyHierarchy',
    'ToyLeaf', 'build_toy_hierarchy', 'ClipParams', 'object_track',
    'read_video', 'render_clip', 'render_clip_from_params',
    'sample_clip_params', 'write_video'
]
