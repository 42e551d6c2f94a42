"""Helpers shared by the heads: feature selection, labels, accuracy, and the
class hierarchy with its hyperbolic embedding."""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from mmaction.evaluation import top_k_accuracy
from mmaction.utils import SampleList
from hprotopnet_mm.hierarchy import (ClassHierarchy, HyperbolicEmbedding,
                                     load_embedding)


def select_feature(x: Union[Tensor, Sequence[Tensor]], owner: str) -> Tensor:
    """The backbone feature map a head works on.

    Args:
        x (Tensor | tuple[Tensor]): A feature map (B, C, T, H, W), or the
            tuple of stage outputs of a backbone with several
            ``out_indices``, of which the last (deepest) one is used.
        owner (str): Name of the head, for the error message.

    Returns:
        Tensor: Shape (B, C, T, H, W).
    """
    if isinstance(x, (tuple, list)):
        if len(x) == 0:
            raise ValueError(f'{owner}: got an empty tuple of features')
        x = x[-1]
    if not isinstance(x, Tensor) or x.dim() != 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x)
        raise ValueError(f'{owner}: expected a 3D feature map of shape '
                         f'(B, C, T, H, W), got {shape}')
    return x


def gt_labels(data_samples: SampleList, batch_size: int, device: torch.device,
              owner: str) -> Tensor:
    """Hard leaf labels of a batch.

    Args:
        data_samples (list[ActionDataSample]): Samples with ``gt_label``.
        batch_size (int): Number of clips scored by the head.
        device (torch.device): Device of the result.
        owner (str): Name of the head, for the error message.

    Returns:
        Tensor: int64 labels, shape (B, ).
    """
    labels = torch.stack([sample.gt_label for sample in data_samples])
    labels = labels.reshape(len(data_samples), -1)
    if labels.shape != (batch_size, 1) or labels.is_floating_point():
        raise ValueError(
            f'{owner}: needs one integer label per clip ({batch_size} '
            f'clips), got gt_label of shape {tuple(labels.shape)} and dtype '
            f'{labels.dtype}; soft, multi-label and multi-clip training are '
            f'not supported')
    return labels[:, 0].to(device=device, dtype=torch.long)


def top_k_accuracies(cls_score: Tensor, labels: Tensor,
                     topk: Sequence[int]) -> Dict[str, Tensor]:
    """Top-k accuracies to log, as in MMAction2's ``BaseHead``.

    Args:
        cls_score (Tensor): Shape (B, K).
        labels (Tensor): Shape (B, ).
        topk (Sequence[int]): The k values.

    Returns:
        dict[str, Tensor]: ``top{k}_acc`` per k.
    """
    accs = top_k_accuracy(cls_score.detach().float().cpu().numpy(),
                          labels.detach().cpu().numpy(), topk)
    return {
        f'top{k}_acc': torch.tensor(acc, device=cls_score.device)
        for k, acc in zip(topk, accs)
    }


def load_hierarchy_and_embedding(
    owner: str, num_classes: int, hierarchy_file: str, label_map_file: str,
    embedding_file: str, curvature: Optional[float]
) -> Tuple[ClassHierarchy, HyperbolicEmbedding, float]:
    """Read the class hierarchy and its embedding and check they agree.

    Args:
        owner (str): Name of the head, for the error messages.
        num_classes (int): Number of classes the head is built for.
        hierarchy_file (str): Hierarchy CSV.
        label_map_file (str): Label map, one class name per line.
        embedding_file (str): Hyperbolic embedding of the hierarchy.
        curvature (float, optional): c > 0 of the ball; None takes the
            embedding file's.

    Returns:
        tuple: The hierarchy, the embedding and the curvature c.

    Raises:
        ValueError: If ``num_classes`` differs from the number of leaves,
            the curvature is not positive or differs from the file's, or the
            embedding does not match the hierarchy.
    """
    hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    if num_classes != hierarchy.num_leaves:
        raise ValueError(
            f'{owner}: num_classes={num_classes} but {hierarchy_file} with '
            f'label map {label_map_file} has {hierarchy.num_leaves} leaf '
            f'classes')
    embedding = load_embedding(embedding_file)
    embedding.check_matches(hierarchy, embedding_file)
    if tuple(embedding.embeddings.shape[:1]) != (hierarchy.num_nodes, ):
        raise ValueError(
            f'{owner}: {embedding_file} holds embeddings of shape '
            f'{tuple(embedding.embeddings.shape)}, expected '
            f'({hierarchy.num_nodes}, dim)')
    file_curvature = float(embedding.curvature)
    if not file_curvature > 0:
        raise ValueError(f'{owner}: {embedding_file} has curvature '
                         f'{file_curvature}; it must be positive')
    if curvature is None:
        curvature = file_curvature
    elif not curvature > 0:
        raise ValueError(f'{owner}: curvature must be positive, got '
                         f'{curvature}')
    elif not math.isclose(curvature, file_curvature, rel_tol=1e-6):
        raise ValueError(
            f'{owner}: curvature={curvature} differs from the curvature '
            f'{file_curvature} of {embedding_file}; the embeddings are only '
            f'valid in their own ball (leave curvature=None to use it)')
    return hierarchy, embedding, float(curvature)


def level_scores(leaf_probs: Tensor, membership: Tensor,
                 hierarchy: ClassHierarchy) -> Dict[str, Tensor]:
    """Probabilities of the nodes of every level, from leaf probabilities.

    The probability of a node is the sum of the probabilities of the leaves
    under it, so the scores of each level sum to 1.

    Args:
        leaf_probs (Tensor): Shape (..., K).
        membership (Tensor): Float (N, K), 1 where leaf k lies under (or
            is) node n.
        hierarchy (ClassHierarchy): Gives the nodes of each level.

    Returns:
        dict[str, Tensor]: level name -> scores (..., N_level), for every
        level including the leaf level; column j is the j-th node of the
        level, i.e. node id ``hierarchy.level_node_ids(level)[j]``.
    """
    scores = {}
    for level, name in enumerate(hierarchy.level_names):
        ids = hierarchy.level_node_ids(level).to(membership.device)
        scores[name] = leaf_probs @ membership[ids].t().to(leaf_probs.dtype)
    return scores


def set_level_scores(data_samples: SampleList, membership: Tensor,
                     hierarchy: ClassHierarchy,
                     average_clips: Optional[str]) -> SampleList:
    """Add per-level scores to data samples holding leaf ``pred_score``.

    Sets ``pred_level_scores`` (see :func:`level_scores`) on every sample.
    The leaf probabilities are ``pred_score`` itself when the clip scores
    were averaged as probabilities (``average_clips='prob'``), else its
    softmax (``'score'``, and ``None``, where every clip keeps its own row).

    Args:
        data_samples (list[ActionDataSample]): Samples with ``pred_score``.
        membership (Tensor): Float (N, K), see :func:`level_scores`.
        hierarchy (ClassHierarchy): The class hierarchy.
        average_clips (str, optional): The head's ``average_clips``.

    Returns:
        list[ActionDataSample]: The same samples.
    """
    for sample in data_samples:
        score = sample.pred_score.float()
        probs = score if average_clips == 'prob' else F.softmax(score, -1)
        sample.pred_level_scores = level_scores(probs, membership, hierarchy)
    return data_samples


def check_plain(value, path: str, owner: str) -> None:
    """Check that ``value`` only holds types ``torch.load(weights_only=True)``
    restores: dicts with str keys, lists, tuples, str, int, float, bool,
    None and tensors.

    Args:
        value: The object to check.
        path (str): Its name, for the error message.
        owner (str): Name of the caller, for the error message.
    """
    if value is None or isinstance(value, (str, int, float, bool, Tensor)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f'{owner}: {path} has a non-string key '
                                f'{key!r}')
            check_plain(item, f'{path}[{key!r}]', owner)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f'{path}[{i}]', owner)
        return
    raise TypeError(f'{owner}: {path} is a {type(value).__name__}; only '
                    f'dicts, lists, tuples, str, int, float, bool, None and '
                    f'tensors can be saved')
