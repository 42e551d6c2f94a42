"""Datasets of the project: a generated, hierarchical toy action dataset
and a video dataset that checks its annotation list."""
from .checked_video_dataset import AnnotationError, CheckedVideoDataset
from .toy_dataset import (ToyDatasetFiles, clip_rng, make_toy_dataset,
                          toy_object_track)
from .toy_hierarchy import (LEVEL_NAMES, MOTION_FAMILIES, OBJECTS, SCENES,
                            Motion, Scene, SceneObject, ToyHierarchy, ToyLeaf,
                            build_toy_hierarchy)
from .toy_videos import (ClipParams, object_track, read_video, render_clip,
                         render_clip_from_params, sample_clip_params,
                         write_video)

__all__ = [
    'AnnotationError', 'CheckedVideoDataset', 'ToyDatasetFiles', 'clip_rng',
    'make_toy_dataset', 'toy_object_track', 'LEVEL_NAMES', 'MOTION_FAMILIES', 'OBJECTS', 'SCENES',
    'Motion', 'Scene', 'SceneObject', 'ToyHierarchy', 'ToyLeaf',
    'build_toy_hierarchy', 'ClipParams', 'object_track', 'read_video',
    'render_clip', 'render_clip_from_params', 'sample_clip_params',
    'write_video'
]
