"""Recompute the hierarchical metrics of a dumped test run.

    python tools/analyze_results.py RESULTS.pkl --hierarchy TREE.csv
        --label-map LABELS.txt [--topk 1 5] [--hop-map-k 1 5 10]
        [--score-type logits] [--video-key filename] [--out METRICS.json]
        [--confusion CONFUSION.png] [--confusion-mode video_vote]
        [--confusion-level parent] [--abstain-sweep SWEEP.png]
        [--abstain-thresholds 0 0.1 ... 1]

``RESULTS.pkl`` is the file written by ``tools/test.py --dump`` (MMEngine's
``DumpResults``): a pickle of a list of data-sample dicts holding
``pred_score``, ``gt_label`` and metainfo such as ``filename``. Loading a
pickle can run code stored in it, so this tool is meant for the result files
of this project's own test runs only.

The metrics are computed by the same function as the ``HierarchicalAccuracy``
metric and carry the same names (``hier/{mode}/{metric}``). The tool prints
them as a table and writes them to JSON (default: next to the results,
``<RESULTS>_hier_metrics.json``). ``--confusion`` saves a confusion matrix
aggregated per ancestor (default: per parent): rows are the true parent,
columns the predicted parent, each cell annotated with its count and
coloured by its share of the row, so one sees where the mistakes land in the
tree. Nodes are ordered by their ancestors, lines separate the groups of
nodes that share an ancestor one level up.

``--abstain-sweep`` evaluates the abstaining prediction
(``hprotopnet_mm.explain.abstain``) on every video (its clip probabilities
averaged): for each threshold the most specific node whose probability
reaches it. It prints coverage (share answered at the leaf level) against
hierarchical correctness (share answered with the true leaf or an ancestor)
as a table, saves the curve as a PNG and the numbers next to it as JSON
(``SWEEP.json``).
"""
import argparse
import json
import os.path as osp
import pickle
from typing import List, Optional, Sequence, Tuple

import numpy as np

from hprotopnet_mm.evaluation import (HierarchicalAccuracy, dump_metrics_json,
                                      evaluate_records, format_metrics_table,
                                      group_by_video, prediction_record,
                                      rank_predictions)
from hprotopnet_mm.evaluation.functional import (PREDICTION_MODES, SCORE_TYPES,
                                                 average_probabilities,
                                                 clip_probabilities)
from hprotopnet_mm.explain.abstain import (abstain_sweep, format_sweep_table,
                                           plot_abstain_sweep)
from hprotopnet_mm.hierarchy import ClassHierarchy


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Recompute hierarchical metrics from a result dump')
    parser.add_argument(
        'results', help='pickle written by tools/test.py '
        '--dump')
    parser.add_argument(
        '--hierarchy', required=True, help='class hierarchy CSV')
    parser.add_argument('--label-map', required=True, help='label map file')
    parser.add_argument(
        '--topk',
        type=int,
        nargs='+',
        default=[1, 5],
        help='k of the top-k accuracies')
    parser.add_argument(
        '--hop-map-k',
        type=int,
        nargs='+',
        default=[1, 5, 10],
        help='k of the hop-mAPs')
    parser.add_argument(
        '--score-type',
        choices=SCORE_TYPES,
        default='logits',
        help='what pred_score holds')
    parser.add_argument(
        '--video-key',
        default='filename',
        help='metainfo key naming the video of a sample')
    parser.add_argument(
        '--out', help='JSON output (default: <results>_hier_metrics.json)')
    parser.add_argument(
        '--confusion', help='save a per-ancestor confusion matrix (PNG)')
    parser.add_argument(
        '--confusion-mode',
        choices=PREDICTION_MODES,
        default='video_vote',
        help='predictions shown in the confusion matrix')
    parser.add_argument(
        '--confusion-level',
        default=None,
        help='hierarchy level of the confusion matrix (default: the level '
        'above the leaves)')
    parser.add_argument(
        '--abstain-sweep',
        metavar='PNG',
        help='save the coverage / hierarchical-correctness curve of the '
        'abstaining prediction (numbers in the same name with .json)')
    parser.add_argument(
        '--abstain-thresholds',
        type=float,
        nargs='+',
        default=None,
        help='min_confidence values of the sweep (default 0, 0.05, ..., 1)')
    return parser.parse_args(argv)


def load_results(path: str) -> List[dict]:
    """Read a result dump: a pickled list of data-sample dicts.

    Args:
        path (str): The ``.pkl`` file written by ``tools/test.py --dump``.

    Returns:
        list[dict]: The data samples.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'result file not found: {path}')
    with open(path, 'rb') as f:
        results = pickle.load(f)
    if not isinstance(results, list):
        raise TypeError(f'{path}: expected a list of data-sample dicts, got '
                        f'{type(results).__name__}')
    return results


def read_records(results: Sequence[dict], hierarchy: ClassHierarchy,
                 video_key: str, source: str) -> List[dict]:
    """Prediction records of dumped data samples (errors name the sample)."""
    return [
        prediction_record(sample, hierarchy.num_leaves, video_key,
                          f'{source}: data sample {i}')
        for i, sample in enumerate(results)
    ]


def _tree_order(hierarchy: ClassHierarchy, level: int) -> List[int]:
    """Node ids at ``level`` ordered by their ancestors (top level first),
    so nodes sharing an ancestor are adjacent."""
    parent = hierarchy.parent.tolist()

    def path(node):
        ids = [node]
        while parent[ids[-1]] >= 0:
            ids.append(parent[ids[-1]])
        return ids[::-1]

    return sorted(hierarchy.level_node_ids(level).tolist(), key=path)


def level_confusion_matrix(pred: np.ndarray, labels: np.ndarray,
                           hierarchy: ClassHierarchy, level: int
                           ) -> Tuple[np.ndarray, List[str], List[int]]:
    """Confusion matrix of the ancestors of predicted and true leaves.

    Args:
        pred (np.ndarray): Predicted leaf of each sample, shape (M,).
        labels (np.ndarray): True leaf of each sample, shape (M,).
        hierarchy (ClassHierarchy): The class tree.
        level (int): Level of the ancestors, in [1, num_levels).

    Returns:
        tuple: counts of shape (P, P), int64, ``[t, p]`` = samples whose
        true leaf lies under node t and predicted leaf under node p; the P
        node names; the P node ids. Nodes are ordered by their ancestors, so
        nodes under one ancestor form a block.
    """
    if not 1 <= level < hierarchy.num_levels:
        raise ValueError(f'level must lie in [1, {hierarchy.num_levels}), '
                         f'got {level}')
    order = _tree_order(hierarchy, level)
    position = np.full(hierarchy.num_nodes, -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    ancestors = position[hierarchy.leaf_ancestors[:, level].cpu().numpy()]
    num = len(order)
    counts = np.bincount(
        ancestors[labels] * num + ancestors[pred],
        minlength=num * num).reshape(num, num)
    return counts, [hierarchy.node_names[i] for i in order], order


def plot_confusion(counts: np.ndarray,
                   names: Sequence[str],
                   title: str,
                   path: str,
                   groups: Optional[Sequence[int]] = None) -> None:
    """Save an annotated confusion matrix (rows: true, columns: predicted).

    Args:
        counts (np.ndarray): Counts, shape (P, P).
        names (Sequence[str]): The P node names.
        title (str): Figure title.
        path (str): Output image.
        groups (Sequence[int], optional): Group (e.g. parent node id) of each
            of the P nodes; lines separate consecutive groups.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    num = len(names)
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(
        counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)
    size = max(6.0, 0.4 * num + 3.0)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(share, cmap='Blues', vmin=0.0, vmax=1.0)
    fig.colorbar(
        image, ax=ax, fraction=0.046, pad=0.04, label='share of the true row')
    font = max(4, min(10, int(200 / max(num, 1))))
    for t, p in zip(*np.nonzero(counts)):
        ax.text(
            p,
            t,
            str(counts[t, p]),
            ha='center',
            va='center',
            fontsize=font,
            color='white' if share[t, p] > 0.5 else 'black')
    if groups is not None:
        for b in np.flatnonzero(np.diff(np.asarray(groups)) != 0):
            ax.axhline(b + 0.5, color='gray', linewidth=0.8)
            ax.axvline(b + 0.5, color='gray', linewidth=0.8)
    ax.set_xticks(range(num))
    ax.set_xticklabels(names, rotation=90, fontsize=font)
    ax.set_yticks(range(num))
    ax.set_yticklabels(names, fontsize=font)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _level_index(hierarchy: ClassHierarchy, level: Optional[str]) -> int:
    if level is None:
        return 1
    if level not in hierarchy.level_names[1:]:
        raise ValueError(f'--confusion-level {level!r} is not a level above '
                         f'the leaves: {hierarchy.level_names[1:]}')
    return hierarchy.level_names.index(level)


def video_probabilities(records: Sequence[dict],
                        score_type: str) -> Tuple[np.ndarray, np.ndarray]:
    """Mean clip probabilities (V, C) and labels (V,) of every video."""
    clip_scores, labels, _ = group_by_video(records)
    counts = np.array([s.shape[0] for s in clip_scores], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    probs = clip_probabilities(np.concatenate(clip_scores), score_type)
    return average_probabilities(probs, starts), labels


def _json_list(value: np.ndarray) -> list:
    """An array as nested lists, NaN as None (JSON null)."""
    if value.dtype.kind != 'f':
        return value.tolist()
    return np.where(np.isnan(value), None, value).tolist()


def run_abstain_sweep(records: Sequence[dict], hierarchy: ClassHierarchy,
                      score_type: str, thresholds: Optional[Sequence[float]],
                      path: str) -> dict:
    """Sweep the abstaining prediction; print the table, save PNG and JSON.

    Returns:
        dict: The sweep as lists (also written to ``<path stem>.json``).
    """
    probs, labels = video_probabilities(records, score_type)
    sweep = abstain_sweep(probs, labels, hierarchy, thresholds)
    print(format_sweep_table(sweep, hierarchy.level_names))
    plot_abstain_sweep(
        sweep,
        path,
        title=f'Abstaining prediction, {len(labels)} videos',
        level_names=hierarchy.level_names)
    result = {key: _json_list(value) for key, value in sweep.items()}
    result['level_names'] = list(hierarchy.level_names) + ['root']
    result['num_videos'] = int(len(labels))
    out = osp.splitext(path)[0] + '.json'
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'abstain sweep written to {path} and {out}')
    return result


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    hierarchy = ClassHierarchy.from_files(args.hierarchy, args.label_map)
    level = _level_index(hierarchy, args.confusion_level)
    records = read_records(
        load_results(args.results), hierarchy, args.video_key, args.results)

    metrics = evaluate_records(
        records,
        hierarchy,
        topk=args.topk,
        hop_map_k=args.hop_map_k,
        score_type=args.score_type)
    prefix = HierarchicalAccuracy.default_prefix
    metrics = {f'{prefix}/{k}': v for k, v in metrics.items()}
    print(format_metrics_table(metrics))
    out = args.out or osp.splitext(args.results)[0] + '_hier_metrics.json'
    dump_metrics_json(metrics, out)
    print(f'metrics written to {out}')

    if args.confusion:
        clip_scores, labels, _ = group_by_video(records)
        ranking, mode_labels = rank_predictions(
            clip_scores, labels, args.score_type)[args.confusion_mode]
        counts, names, node_ids = level_confusion_matrix(
            ranking[:, 0], mode_labels, hierarchy, level)
        level_name = hierarchy.level_names[level]
        accuracy = np.trace(counts) / counts.sum()
        groups = None
        if level + 1 < hierarchy.num_levels:
            groups = hierarchy.parent[node_ids].tolist()
        plot_confusion(
            counts, names,
            f'{args.confusion_mode}: true vs predicted {level_name} '
            f'({level_name} accuracy {accuracy:.4f})', args.confusion, groups)
        print(f'confusion matrix written to {args.confusion}')
    if args.abstain_sweep:
        run_abstain_sweep(records, hierarchy, args.score_type,
                          args.abstain_thresholds, args.abstain_sweep)
    return metrics


if __name__ == '__main__':
    main()
