"""Prediction records: the scores, label and video of one recognizer output,
checked, and their grouping into videos for :func:`hierarchical_accuracy`."""
from collections import OrderedDict
from typing import Dict, Hashable, List, Sequence, Tuple

import numpy as np
import torch

from ...hierarchy import ClassHierarchy
from .hierarchical_accuracy import hierarchical_accuracy


def prediction_record(data_sample: dict,
                      num_classes: int,
                      video_key: str = 'filename',
                      where: str = 'data sample') -> dict:
    """Scores, label and video id of one recognizer output.

    Args:
        data_sample (dict): An ``ActionDataSample`` as a dict
            (``.to_dict()``), with ``pred_score`` of shape (C,) or
            (num_clips, C) and ``gt_label`` of shape (1,).
        num_classes (int): Expected C.
        video_key (str): Metainfo key naming the video; None in the record
            when the sample does not have it.
        where (str): Names the sample in error messages.

    Returns:
        dict: ``scores`` (np.ndarray, (num_clips, C), float64), ``label``
        (int), ``video_id`` (the ``video_key`` value or None).
    """
    if not isinstance(data_sample, dict):
        raise TypeError(f'{where}: expected a dict, got '
                        f'{type(data_sample).__name__}')
    for key in ('pred_score', 'gt_label'):
        if key not in data_sample:
            raise KeyError(f'{where}: no {key!r} (keys: '
                           f'{sorted(data_sample)})')
    scores = data_sample['pred_score']
    if isinstance(scores, torch.Tensor):
        if not scores.is_floating_point():
            raise TypeError(f'{where}: pred_score must be floating point, '
                            f'got {scores.dtype}')
        scores = scores.detach().cpu().double().numpy()
    elif isinstance(scores, np.ndarray):
        if not np.issubdtype(scores.dtype, np.floating):
            raise TypeError(f'{where}: pred_score must be floating point, '
                            f'got {scores.dtype}')
        scores = scores.astype(np.float64)
    else:
        raise TypeError(f'{where}: pred_score must be a tensor of shape (C,) '
                        f'or (num_clips, C), got {type(scores).__name__}')
    if scores.ndim == 1:
        scores = scores[None]
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f'{where}: pred_score must have shape (C,) or '
                         f'(num_clips, C), got {tuple(scores.shape)}')
    if scores.shape[1] != num_classes:
        raise ValueError(f'{where}: pred_score has {scores.shape[1]} classes '
                         f'but the hierarchy has {num_classes} leaves')
    if not np.isfinite(scores).all():
        raise ValueError(f'{where}: pred_score is not all finite')

    label = data_sample['gt_label']
    label = np.asarray(
        label.cpu() if isinstance(label, torch.Tensor) else label)
    if label.size != 1:
        raise ValueError(f'{where}: gt_label must hold one label, got shape '
                         f'{label.shape} (multi-label samples are not '
                         'supported)')
    if not np.issubdtype(label.dtype, np.integer):
        raise TypeError(f'{where}: gt_label must be an integer, got '
                        f'{label.dtype}')
    label = int(label.reshape(-1)[0])
    if not 0 <= label < num_classes:
        raise ValueError(f'{where}: gt_label {label} outside '
                         f'[0, {num_classes})')
    return dict(
        scores=scores, label=label, video_id=data_sample.get(video_key))


def group_by_video(
    records: Sequence[dict]
) -> Tuple[List[np.ndarray], np.ndarray, List[Hashable]]:
    """Gather the clips of each video from prediction records.

    Records with the same ``video_id`` belong to one video (their clips are
    concatenated in record order). A record without a video id is a video of
    its own, named by its running index in ``records``.

    Args:
        records (Sequence[dict]): Outputs of :func:`prediction_record`.

    Returns:
        tuple: clip scores (one (n_i, C) array per video), labels (V,) and
        video ids (V,), videos in order of first appearance.
    """
    clips: 'OrderedDict[Hashable, List[np.ndarray]]' = OrderedDict()
    labels: Dict[Hashable, int] = {}
    for index, record in enumerate(records):
        video_id = record['video_id']
        if video_id is None:
            video_id = index
        if video_id in labels:
            if labels[video_id] != record['label']:
                raise ValueError(f'video {video_id!r} has clips labelled '
                                 f'{labels[video_id]} and {record["label"]}')
            clips[video_id].append(record['scores'])
        else:
            labels[video_id] = record['label']
            clips[video_id] = [record['scores']]
    video_ids = list(clips)
    clip_scores = [
        v[0] if len(v) == 1 else np.concatenate(v) for v in clips.values()
    ]
    return clip_scores, np.array([labels[v] for v in video_ids],
                                 dtype=np.int64), video_ids


def evaluate_records(records: Sequence[dict], hierarchy: ClassHierarchy,
                     **kwargs) -> Dict[str, float]:
    """:func:`hierarchical_accuracy` of prediction records.

    Args:
        records (Sequence[dict]): Outputs of :func:`prediction_record`.
        hierarchy (ClassHierarchy): The class tree.
        **kwargs: ``topk``, ``hop_map_k``, ``score_type``.
    """
    if len(records) == 0:
        raise ValueError('no samples to evaluate')
    clip_scores, labels, video_ids = group_by_video(records)
    return hierarchical_accuracy(
        clip_scores, labels, hierarchy, video_ids=video_ids, **kwargs)
