"""Hierarchical accuracy of action recognition predictions (Sec. 5.2).

A prediction is judged by how far the predicted leaf lies from the true leaf
in the class tree, counted in hops (``ClassHierarchy.hop_distance``): 0 for
the right class, 2 for a sibling (same parent), 4 for a cousin (same
grandparent), ... Accuracy "within h hops" counts a prediction as right when
it lies at most ``h`` hops from the truth; the paper reports h = 0 (class),
h = 2 (sibling) and h = 4 (cousin) accuracy.

Predictions are evaluated in three modes:

- ``clip``: every clip is scored on its own, with its video's label.
- ``video_vote``: the clips of a video are combined by a majority vote of
  their top-1 classes (the paper's video-level accuracy). A tie in the vote
  goes to the tied class with the higher mean clip probability, then to the
  lower label index.
- ``video_avg``: the clips of a video are combined by averaging their softmax
  probabilities (MMAction2's ``average_clips='prob'``).

A video given by one score vector (shape (C,): one clip, or clips the head
already averaged) has the same prediction in all three modes.

The pure computation (:func:`hierarchical_accuracy`) takes numpy arrays and is
shared by the ``HierarchicalAccuracy`` metric and ``tools/analyze_results.py``.
"""
from collections import OrderedDict
from typing import Dict, Hashable, Optional, Sequence, Tuple, Union

import numpy as np

from ...hierarchy import ClassHierarchy

#: Names of the hop radii reported by the metric, with their radius.
HOP_RADII: Tuple[Tuple[str, int], ...] = (
    ('class', 0),
    ('sibling', 2),
    ('cousin', 4),
)
#: How the clips of a video are turned into predictions.
PREDICTION_MODES: Tuple[str, ...] = ('clip', 'video_vote', 'video_avg')
#: What ``pred_score`` holds: raw class scores or probabilities.
SCORE_TYPES: Tuple[str, ...] = ('logits', 'probs')


def as_k_tuple(value: Union[int, Sequence[int]], name: str,
               num_classes: int) -> Tuple[int, ...]:
    """Check a ``topk``-like argument and return it as a tuple of ints."""
    ks = (value, ) if isinstance(value, int) else tuple(value)
    if len(ks) == 0:
        raise ValueError(f'{name} must name at least one k, got {value!r}')
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f'{name} must hold ints, got {value!r}')
        if not 1 <= k <= num_classes:
            raise ValueError(f'{name} values must lie in [1, {num_classes}] '
                             f'(the number of classes), got {value!r}')
    return tuple(int(k) for k in ks)


def clip_probabilities(scores: np.ndarray,
                       score_type: str = 'logits') -> np.ndarray:
    """Class probabilities of clips.

    Args:
        scores (np.ndarray): Class scores, shape (N, C).
        score_type (str): ``'logits'``: a softmax over C turns them into
            probabilities. ``'probs'``: they already are probabilities
            (non-negative, rows summing to 1 within 1e-3) and are used as
            they are.

    Returns:
        np.ndarray: Probabilities, shape (N, C), float64.
    """
    if score_type not in SCORE_TYPES:
        raise ValueError(f'score_type must be one of {SCORE_TYPES}, '
                         f'got {score_type!r}')
    scores = np.asarray(scores, dtype=np.float64)
    if score_type == 'logits':
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)
    _check_probabilities(scores, 'clip scores')
    return scores


def _check_probabilities(scores: np.ndarray, where: str) -> None:
    """Raise if a row of ``scores`` (N, C) is not a probability vector."""
    row_sums = scores.sum(axis=1)
    bad = np.flatnonzero((scores.min(axis=1) < 0)
                         | (np.abs(row_sums - 1.0) > 1e-3))
    if bad.size:
        raise ValueError(
            f"{where}: score_type='probs' but clip {bad[0]} has scores that "
            f'are not probabilities (min {scores[bad[0]].min():.4g}, sum '
            f"{row_sums[bad[0]]:.4g}); use score_type='logits' for raw "
            'class scores')


def rank_classes(scores: np.ndarray) -> np.ndarray:
    """Classes ordered from the highest to the lowest score.

    Equal scores keep the lower label index first (stable sort).

    Args:
        scores (np.ndarray): Scores, shape (M, C).

    Returns:
        np.ndarray: Label indices, shape (M, C), int64; ``[:, 0]`` is the
        top-1 prediction.
    """
    return np.argsort(-scores, axis=1, kind='stable')


def average_probabilities(probs: np.ndarray,
                          video_starts: np.ndarray) -> np.ndarray:
    """Mean clip probability of each video.

    Args:
        probs (np.ndarray): Clip probabilities, shape (N, C), the clips of a
            video contiguous.
        video_starts (np.ndarray): Row of each video's first clip, shape (V,),
            increasing, ``video_starts[0] == 0``.

    Returns:
        np.ndarray: Mean probabilities, shape (V, C).
    """
    counts = np.diff(np.append(video_starts, probs.shape[0]))
    return np.add.reduceat(probs, video_starts, axis=0) / counts[:, None]


def majority_vote_ranking(clip_top1: np.ndarray, video_index: np.ndarray,
                          mean_probs: np.ndarray) -> np.ndarray:
    """Classes of each video ordered by the votes of its clips.

    Every clip votes for its top-1 class. Classes are ranked by their number
    of votes; equal votes are ordered by the higher mean clip probability,
    then by the lower label index. So the top-1 class is the majority vote
    and a tie in the vote goes to the tied class the clips find most
    probable on average.

    Args:
        clip_top1 (np.ndarray): Top-1 class of each clip, shape (N,).
        video_index (np.ndarray): Video of each clip, shape (N,), in
            [0, V).
        mean_probs (np.ndarray): Mean clip probabilities of each video,
            shape (V, C).

    Returns:
        np.ndarray: Label indices, shape (V, C), int64.
    """
    num_videos, num_classes = mean_probs.shape
    votes = np.bincount(
        video_index * num_classes + clip_top1,
        minlength=num_videos * num_classes).reshape(num_videos, num_classes)
    # np.lexsort sorts by the last key first and is stable, so classes equal
    # in votes and mean probability keep the lower label index first.
    return np.lexsort((-mean_probs, -votes), axis=-1)


def hop_topk_accuracy(hops: np.ndarray, max_hops: int, k: int) -> float:
    """Share of samples with any of the top-k predictions within h hops.

    ``acc_h@k = 1/M sum_n 1[min_{i<=k} d(y_n, p_{n,i}) <= h]``, where
    ``d`` is the hop distance in the class tree, ``y_n`` the true class and
    ``p_{n,i}`` the i-th ranked prediction of sample n.

    Args:
        hops (np.ndarray): Hop distance from the true class of each ranked
            prediction, shape (M, K), K >= k.
        max_hops (int): The radius h.
        k (int): Number of top predictions considered.

    Returns:
        float: Accuracy in [0, 1].
    """
    return float((hops[:, :k] <= max_hops).any(axis=1).mean())


def hop_mean_average_precision(hops: np.ndarray, max_hops: int,
                               k: int) -> float:
    """Hop-mAP: precision over the top-k predictions, h hops counted right.

    With ``r_{n,j} = 1[d(y_n, p_{n,j}) <= h]`` (prediction j of sample n lies
    within h hops of the truth) and the precision at rank i
    ``P_n(i) = 1/i sum_{j<=i} r_{n,j}``::

        hop-mAP_h@k = 1/M sum_n 1/k sum_{i=1..k} P_n(i)

    i.e. the precision at each rank i = 1..k is averaged over the ranks and
    then over the samples (every rank counts, not only the ranks holding a
    right prediction). The arguments are those of
    :func:`hop_topk_accuracy`.

    Returns:
        float: hop-mAP in [0, 1].
    """
    right = (hops[:, :k] <= max_hops).astype(np.float64)
    precision_at_rank = np.cumsum(right, axis=1) / np.arange(1, k + 1)
    return float(precision_at_rank.mean(axis=1).mean())


def mean_mistake_hops(top1_hops: np.ndarray) -> float:
    """Mean hop distance between wrong top-1 predictions and the truth.

    Args:
        top1_hops (np.ndarray): Hop distance of each top-1 prediction from
            the truth, shape (M,).

    Returns:
        float: Mean over the samples with ``top1_hops > 0``; NaN when every
        prediction is right (there is no mistake to measure).
    """
    mistakes = top1_hops[top1_hops > 0]
    return float(mistakes.mean()) if mistakes.size else float('nan')


def level_accuracy(pred: np.ndarray, labels: np.ndarray,
                   leaf_ancestors: np.ndarray, level: int) -> float:
    """Share of samples whose predicted leaf has the true ancestor at a level.

    Args:
        pred (np.ndarray): Top-1 predicted leaf, shape (M,).
        labels (np.ndarray): True leaf, shape (M,).
        leaf_ancestors (np.ndarray): Ancestor node id of every leaf at every
            level, shape (C, L) (``ClassHierarchy.leaf_ancestors``).
        level (int): Level in [0, L); 0 is the leaf itself.

    Returns:
        float: Accuracy in [0, 1].
    """
    ancestors = leaf_ancestors[:, level]
    return float((ancestors[pred] == ancestors[labels]).mean())


def ranking_metrics(ranking: np.ndarray, labels: np.ndarray,
                    hierarchy: ClassHierarchy, topk: Sequence[int],
                    hop_map_k: Sequence[int]) -> 'OrderedDict[str, float]':
    """All hierarchical metrics of ranked predictions.

    Args:
        ranking (np.ndarray): Label indices from the most to the least likely
            class, shape (M, C).
        labels (np.ndarray): True labels, shape (M,).
        hierarchy (ClassHierarchy): The class tree.
        topk (Sequence[int]): k of the top-k accuracies.
        hop_map_k (Sequence[int]): k of the hop-mAPs.

    Returns:
        OrderedDict: ``num_samples``; ``class_acc``, ``sibling_acc``,
        ``cousin_acc`` (top-1 within 0 / 2 / 4 hops); ``top{k}_class_acc``
        etc. for every k > 1 in ``topk``; ``mean_mistake_hops``;
        ``{level}_level_acc`` for every level above the leaves (named by
        ``hierarchy.level_names``; the leaf level is ``class_acc``);
        ``{class,sibling,cousin}_map@{k}`` for every k in ``hop_map_k``.
    """
    hop_distance = hierarchy.hop_distance.cpu().numpy()
    leaf_ancestors = hierarchy.leaf_ancestors.cpu().numpy()
    max_k = max(max(topk), max(hop_map_k))
    top = ranking[:, :max_k]
    hops = hop_distance[labels[:, None], top]

    results = OrderedDict(num_samples=int(labels.shape[0]))
    for name, radius in HOP_RADII:
        results[f'{name}_acc'] = hop_topk_accuracy(hops, radius, 1)
    for k in topk:
        if k == 1:
            continue
        for name, radius in HOP_RADII:
            results[f'top{k}_{name}_acc'] = hop_topk_accuracy(hops, radius, k)
    results['mean_mistake_hops'] = mean_mistake_hops(hops[:, 0])
    for level in range(1, hierarchy.num_levels):
        results[f'{hierarchy.level_names[level]}_level_acc'] = level_accuracy(
            top[:, 0], labels, leaf_ancestors, level)
    for k in hop_map_k:
        for name, radius in HOP_RADII:
            results[f'{name}_map@{k}'] = hop_mean_average_precision(
                hops, radius, k)
    return results


def rank_predictions(
    clip_scores: Sequence[np.ndarray],
    labels: np.ndarray,
    score_type: str = 'logits'
) -> 'OrderedDict[str, Tuple[np.ndarray, np.ndarray]]':
    """Ranked predictions and labels of every mode in ``PREDICTION_MODES``.

    Args:
        clip_scores (Sequence[np.ndarray]): One array per video, shape
            (n_i, C) with n_i >= 1 clips.
        labels (np.ndarray): Label of each video, shape (V,).
        score_type (str): What the scores hold, see
            :func:`clip_probabilities`.

    Returns:
        OrderedDict: mode -> (ranking, labels). ``clip``: shapes
        (sum n_i, C) and (sum n_i,); ``video_vote`` and ``video_avg``: shapes
        (V, C) and (V,). Rankings are computed from the probabilities.
    """
    counts = np.array([s.shape[0] for s in clip_scores], dtype=np.int64)
    video_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    video_index = np.repeat(np.arange(len(clip_scores)), counts)
    probs = clip_probabilities(np.concatenate(clip_scores), score_type)

    clip_ranking = rank_classes(probs)
    mean_probs = average_probabilities(probs, video_starts)
    return OrderedDict(
        clip=(clip_ranking, labels[video_index]),
        video_vote=(majority_vote_ranking(clip_ranking[:, 0], video_index,
                                          mean_probs), labels),
        video_avg=(rank_classes(mean_probs), labels))


def hierarchical_accuracy(clip_scores: Sequence[np.ndarray],
                          labels: Union[np.ndarray, Sequence[int]],
                          hierarchy: ClassHierarchy,
                          topk: Union[int, Sequence[int]] = (1, 5),
                          hop_map_k: Union[int, Sequence[int]] = (1, 5, 10),
                          score_type: str = 'logits',
                          video_ids: Optional[Sequence[Hashable]] = None
                          ) -> Dict[str, float]:
    """Hierarchical metrics of video predictions in every mode.

    Args:
        clip_scores (Sequence[np.ndarray]): Class scores of the clips of each
            video, one array of shape (n_i, C) per video (n_i >= 1; a (C,)
            array is one clip).
        labels (np.ndarray | Sequence[int]): Label of each video, shape (V,).
        hierarchy (ClassHierarchy): The class tree; C must equal
            ``hierarchy.num_leaves``.
        topk (int | Sequence[int]): k of the top-k accuracies.
        hop_map_k (int | Sequence[int]): k of the hop-mAPs.
        score_type (str): ``'logits'`` or ``'probs'``, see
            :func:`clip_probabilities`.
        video_ids (Sequence, optional): Names of the videos in error
            messages (default: their index).

    Returns:
        dict: ``'{mode}/{metric}'`` for every mode in ``PREDICTION_MODES``
        and every metric of :func:`ranking_metrics`.
    """
    if len(clip_scores) == 0:
        raise ValueError('no samples to evaluate')
    num_classes = hierarchy.num_leaves
    topk = as_k_tuple(topk, 'topk', num_classes)
    hop_map_k = as_k_tuple(hop_map_k, 'hop_map_k', num_classes)
    video_ids = list(
        range(len(clip_scores)) if video_ids is None else video_ids)
    if len(video_ids) != len(clip_scores):
        raise ValueError(f'{len(video_ids)} video ids for '
                         f'{len(clip_scores)} videos')
    labels = np.asarray(labels)
    if labels.shape != (len(clip_scores), ):
        raise ValueError(f'expected one label per video ({len(clip_scores)}),'
                         f' got labels of shape {labels.shape}')
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f'labels must be integers, got {labels.dtype}')
    labels = labels.astype(np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise ValueError(
            f'video {video_ids[bad[0]]!r} has label {labels[bad[0]]} outside '
            f'[0, {num_classes}) (the hierarchy has '
            f'{num_classes} leaves)')
    videos = []
    for video_id, scores in zip(video_ids, clip_scores):
        scores = np.asarray(scores)
        if scores.ndim == 1:
            scores = scores[None]
        if scores.ndim != 2 or scores.shape[0] == 0:
            raise ValueError(
                f'video {video_id!r}: expected clip scores of shape (C,) '
                f'or (num_clips, C), got {scores.shape}')
        if scores.shape[1] != num_classes:
            raise ValueError(
                f'video {video_id!r}: scores have {scores.shape[1]} '
                f'classes but the hierarchy has {num_classes} '
                'leaves')
        if not np.isfinite(scores).all():
            raise ValueError(f'video {video_id!r}: scores are not all finite')
        if score_type == 'probs':
            _check_probabilities(scores, f'video {video_id!r}')
        videos.append(scores)

    metrics = OrderedDict()
    rankings = rank_predictions(videos, labels, score_type)
    for mode, (ranking, mode_labels) in rankings.items():
        for name, value in ranking_metrics(ranking, mode_labels, hierarchy,
                                           topk, hop_map_k).items():
            metrics[f'{mode}/{name}'] = value
    return metrics
