"""Abstaining hierarchical prediction (paper Sec. 6.2).

A classifier that is unsure between sibling classes can still name their
parent with confidence. The probability of a node is the sum of the
probabilities of the leaves under it. :func:`abstain_predict` answers the
most specific node whose probability reaches ``min_confidence``: the most
likely leaf if it is confident enough, else the most likely parent if that
is, else the most likely grandparent, and so on up to the top level. When no
top-level node reaches the threshold the answer is the implicit root,
``ROOT = -1`` ("no answer"). At every level the most likely node is taken
(ties go to the lower node id), which need not be an ancestor of the most
likely leaf; for ``min_confidence > 0.5`` at most one node of a level can
reach it, so the answer is unique and every ancestor of it reaches it too.

:func:`abstain_sweep` trades coverage (the share of samples answered at the
leaf level) against hierarchical correctness (the share answered with the
true leaf or one of its ancestors; root answers count as not correct) over a
range of thresholds.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from hprotopnet_mm.hierarchy import ClassHierarchy

#: Answer of :func:`abstain_predict` when no node is confident enough.
ROOT = -1

ArrayLike = Union[Tensor, np.ndarray]


def _as_probabilities(leaf_probs: ArrayLike, num_leaves: int) -> Tensor:
    """(B, C) float64 tensor of checked probability rows."""
    probs = torch.as_tensor(leaf_probs).detach().cpu()
    if not probs.is_floating_point():
        raise TypeError(f'leaf probabilities must be floating point, got '
                        f'{probs.dtype}')
    probs = probs.double()
    if probs.dim() == 1:
        probs = probs[None]
    if probs.dim() != 2 or probs.shape[1] != num_leaves:
        raise ValueError(f'leaf probabilities must have shape (C,) or (B, C) '
                         f'with C = {num_leaves} leaves, got '
                         f'{tuple(torch.as_tensor(leaf_probs).shape)}')
    if not torch.isfinite(probs).all():
        raise ValueError('leaf probabilities are not all finite')
    sums = probs.sum(dim=1)
    bad = torch.nonzero((probs.amin(dim=1) < 0)
                        | ((sums - 1).abs() > 1e-3)).flatten()
    if bad.numel():
        row = int(bad[0])
        raise ValueError(
            f'row {row} of the leaf probabilities is not a probability '
            f'vector (min {probs[row].min().item():.4g}, sum '
            f'{sums[row].item():.4g}); apply a softmax to logits first')
    return probs


def node_probabilities(leaf_probs: ArrayLike,
                       hierarchy: ClassHierarchy) -> Tensor:
    """Probability of every node: the sum over the leaves under it.

    Args:
        leaf_probs (Tensor | np.ndarray): Shape (C,) or (B, C).
        hierarchy (ClassHierarchy): The class tree.

    Returns:
        Tensor: float64, shape (B, N) (B = 1 for a (C,) input); column n is
        node id n.
    """
    probs = _as_probabilities(leaf_probs, hierarchy.num_leaves)
    return probs @ hierarchy.leaf_membership.double().t()


def abstain_predict(leaf_probs: ArrayLike, hierarchy: ClassHierarchy,
                    min_confidence: float) -> Union[int, Tensor]:
    """The most specific node whose probability reaches ``min_confidence``.

    Args:
        leaf_probs (Tensor | np.ndarray): Leaf probabilities, shape (C,) or
            (B, C); rows must sum to 1.
        hierarchy (ClassHierarchy): The class tree.
        min_confidence (float): Threshold in [0, 1].

    Returns:
        int | Tensor: For a (C,) input the node id (an int), for (B, C) an
        int64 tensor (B,) of node ids; :data:`ROOT` (-1) where no top-level
        node reaches the threshold.
    """
    if isinstance(min_confidence, bool) or not isinstance(
            min_confidence, (int, float)) or not 0 <= min_confidence <= 1:
        raise ValueError(f'min_confidence must be a number in [0, 1], got '
                         f'{min_confidence!r}')
    single = torch.as_tensor(leaf_probs).dim() == 1
    nodes = node_probabilities(leaf_probs, hierarchy)
    answer = torch.full((nodes.shape[0], ), ROOT, dtype=torch.long)
    # top level first: each lower level that reaches the threshold
    # replaces the answer with a more specific node
    for level in reversed(range(hierarchy.num_levels)):
        ids = hierarchy.level_node_ids(level)
        best, index = nodes[:, ids].max(dim=1)
        confident = best >= min_confidence
        answer[confident] = ids[index[confident]]
    return int(answer[0]) if single else answer


def answer_level(answers: Tensor, hierarchy: ClassHierarchy) -> Tensor:
    """Level of every answer: 0 = leaf, ..., ``num_levels`` = root.

    Args:
        answers (Tensor): Node ids or ROOT, shape (B,).
        hierarchy (ClassHierarchy): The class tree.

    Returns:
        Tensor: int64, shape (B,).
    """
    answers = torch.as_tensor(answers, dtype=torch.long)
    levels = torch.full_like(answers, hierarchy.num_levels)
    known = answers != ROOT
    levels[known] = hierarchy.node_levels[answers[known]]
    return levels


def answer_covers(answers: Tensor, labels: Tensor,
                  hierarchy: ClassHierarchy) -> Tensor:
    """Whether every answer is its sample's leaf or one of its ancestors.

    Args:
        answers (Tensor): Node ids or ROOT, shape (B,).
        labels (Tensor): Leaf labels, shape (B,).
        hierarchy (ClassHierarchy): The class tree.

    Returns:
        Tensor: Bool, shape (B,); False for ROOT answers.
    """
    answers = torch.as_tensor(answers, dtype=torch.long)
    labels = torch.as_tensor(labels, dtype=torch.long)
    covers = torch.zeros_like(answers, dtype=torch.bool)
    known = answers != ROOT
    covers[known] = hierarchy.leaf_membership[answers[known], labels[known]]
    return covers


def abstain_sweep(leaf_probs: ArrayLike,
                  labels: Union[ArrayLike, Sequence[int]],
                  hierarchy: ClassHierarchy,
                  thresholds: Optional[Sequence[float]] = None) -> Dict:
    """Coverage and hierarchical correctness of abstaining predictions.

    Args:
        leaf_probs (Tensor | np.ndarray): Leaf probabilities, (M, C).
        labels (Tensor | np.ndarray | Sequence[int]): True leaves, (M,).
        hierarchy (ClassHierarchy): The class tree.
        thresholds (Sequence[float], optional): Values of ``min_confidence``
            in [0, 1]. Defaults to 0, 0.05, ..., 1.

    Returns:
        dict[str, np.ndarray]: Per threshold (S of them):

        - ``thresholds`` (S,)
        - ``coverage`` (S,): share of samples answered at the leaf level.
        - ``correctness`` (S,): share answered with the true leaf or one of
          its ancestors (root answers are not correct).
        - ``leaf_accuracy`` (S,): accuracy of the leaf-level answers (nan
          where there are none).
        - ``level_fractions`` (S, num_levels + 1): share of answers at each
          level, leaf first, the root last.
    """
    if thresholds is None:
        thresholds = np.round(np.linspace(0, 1, 21), 2)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError('thresholds must be a non-empty 1-D sequence')
    probs = _as_probabilities(leaf_probs, hierarchy.num_leaves)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if labels.shape != (probs.shape[0], ):
        raise ValueError(f'expected {probs.shape[0]} labels, got shape '
                         f'{tuple(labels.shape)}')
    if len(labels) == 0:
        raise ValueError('no samples for the abstain sweep')
    if ((labels < 0) | (labels >= hierarchy.num_leaves)).any():
        raise ValueError(f'labels must lie in [0, {hierarchy.num_leaves})')
    num = len(labels)
    coverage, correctness, leaf_accuracy, fractions = [], [], [], []
    for threshold in thresholds:
        answers = abstain_predict(probs, hierarchy, float(threshold))
        levels = answer_level(answers, hierarchy)
        covers = answer_covers(answers, labels, hierarchy)
        at_leaf = levels == 0
        coverage.append(at_leaf.sum().item() / num)
        correctness.append(covers.sum().item() / num)
        answered = covers[at_leaf].double()
        leaf_accuracy.append(
            answered.mean().item() if len(answered) else float('nan'))
        counts = torch.bincount(levels, minlength=hierarchy.num_levels + 1)
        fractions.append(counts.double().numpy() / num)
    return dict(
        thresholds=thresholds,
        coverage=np.array(coverage),
        correctness=np.array(correctness),
        leaf_accuracy=np.array(leaf_accuracy),
        level_fractions=np.stack(fractions))


def format_sweep_table(sweep: Dict[str, np.ndarray],
                       level_names: Sequence[str]) -> str:
    """The sweep as a text table, one row per threshold."""
    names = list(level_names) + ['root']
    header = ['min_conf', 'coverage', 'correct', 'leaf_acc'] + \
        [f'@{name}' for name in names]
    rows = [header]
    for i, threshold in enumerate(sweep['thresholds']):
        rows.append([
            f'{threshold:.2f}', f'{sweep["coverage"][i]:.4f}',
            f'{sweep["correctness"][i]:.4f}',
            f'{sweep["leaf_accuracy"][i]:.4f}'
        ] + [f'{v:.4f}' for v in sweep['level_fractions'][i]])
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return '\n'.join('  '.join(cell.rjust(w) for cell, w in zip(row, widths))
                     for row in rows)


def plot_abstain_sweep(sweep: Dict[str, np.ndarray],
                       path: str,
                       title: str = 'Abstaining prediction',
                       level_names: Optional[Sequence[str]] = None) -> None:
    """Save the sweep as a PNG: hierarchical correctness against coverage
    (points labelled with their threshold), and both against the
    threshold with the share of answers at each level.

    Args:
        sweep (dict): Output of :func:`abstain_sweep`.
        path (str): Output image.
        title (str): Figure title.
        level_names (Sequence[str], optional): Names of the levels, leaf
            first (the root is added).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    thresholds = sweep['thresholds']
    coverage, correctness = sweep['coverage'], sweep['correctness']
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8))
    left.plot(coverage, correctness, marker='o', markersize=3)
    labelled = set()
    for i, threshold in enumerate(thresholds):
        point = (round(coverage[i], 3), round(correctness[i], 3))
        if point in labelled:
            continue
        labelled.add(point)
        left.annotate(
            f'{threshold:.2f}',
            point,
            textcoords='offset points',
            xytext=(4, 4),
            fontsize=7)
    left.set_xlim(-0.02, 1.02)
    left.set_ylim(-0.02, 1.02)
    left.set_xlabel('coverage (share answered at the leaf level)')
    left.set_ylabel('hierarchical correctness (true leaf or an ancestor)')
    left.set_title('points labelled with min_confidence', fontsize=9)
    left.grid(True, alpha=0.3)

    names = list(
        level_names or
        [f'level {i}'
         for i in range(sweep['level_fractions'].shape[1] - 1)]) + ['root']
    right.stackplot(
        thresholds,
        sweep['level_fractions'].T,
        labels=[f'answered at {name}' for name in names],
        alpha=0.25)
    right.plot(thresholds, coverage, color='C0', label='coverage')
    right.plot(thresholds, correctness, color='C3', label='correctness')
    right.set_xlim(thresholds.min(), thresholds.max())
    right.set_ylim(0, 1.02)
    right.set_xlabel('min_confidence')
    right.set_ylabel('share of samples')
    right.legend(fontsize=7, loc='center right')
    right.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
