"""Explanation numbers over a list of videos (a split): predictions,
abstaining answers and the deletion test, without rendering.

A split list has MMAction2's video-list format, one video per line,
``<path relative to the video root> <label> [<label> ...]``; the toy
dataset's ``ambiguous_list.txt`` names two sibling labels per clip. An
abstaining answer "covers" a video when it is each of its labels or an
ancestor of each (so for an ambiguous clip only the common ancestors cover
it).
"""
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.utils import ProgressBar

from .abstain import ROOT
from .explainer import PrototypeExplainer
from .faithfulness import drop_ratio, mean_drops


def test_video_root(cfg, video_root: Optional[str] = None) -> str:
    """The folder the paths of a split list are relative to: ``video_root``
    if given, else the config's ``test_dataloader.dataset.data_prefix.video``.

    Raises:
        ValueError: If neither is set.
    """
    video_root = video_root or cfg.get('test_dataloader', {}).get(
        'dataset', {}).get('data_prefix', {}).get('video')
    if video_root is None:
        raise ValueError('give --video-root: the config has no '
                         'test_dataloader.dataset.data_prefix.video')
    return video_root


def read_split_list(path: str, video_root: str) -> List[Tuple[str, List[int]]]:
    """Videos and labels of a split list.

    Args:
        path (str): The list file.
        video_root (str): Folder the listed paths are relative to.

    Returns:
        list[tuple[str, list[int]]]: Video path and its labels.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'split list not found: {path}')
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts or parts[0].startswith('#'):
                continue
            try:
                labels = [int(v) for v in parts[1:]]
            except ValueError:
                raise ValueError(f'{path}, line {number}: labels must be '
                                 f'integers, got {line.strip()!r}') from None
            entries.append((osp.join(video_root, parts[0]), labels))
    if not entries:
        raise ValueError(f'{path} lists no videos')
    return entries


def explain_split(explainer: PrototypeExplainer,
                  entries: Sequence[Tuple[str, List[int]]],
                  topk_prototypes: int = 3,
                  min_confidence: Optional[float] = None,
                  faithfulness: bool = False,
                  faithfulness_options: Optional[Dict] = None,
                  progress: bool = True) -> Dict:
    """Explanation numbers of every listed video, and their summary.

    Args:
        explainer (PrototypeExplainer): The explainer.
        entries (Sequence): From :func:`read_split_list`.
        topk_prototypes (int): Prototypes per node.
        min_confidence (float, optional): Threshold of the abstaining
            prediction.
        faithfulness (bool): Run the deletion test on every video.
        faithfulness_options (dict, optional): See
            :meth:`PrototypeExplainer.explain`.
        progress (bool): Show a progress bar.

    Returns:
        dict: ``videos`` (one dict per video) and ``summary``.
    """
    videos = []
    bar = ProgressBar(len(entries), file=sys.stdout) if progress else None
    for path, labels in entries:
        explanation = explainer.explain(
            path,
            topk_classes=0,
            topk_prototypes=topk_prototypes,
            min_confidence=min_confidence,
            faithfulness=faithfulness,
            faithfulness_options=faithfulness_options,
            render=False)
        data = explanation.data
        entry = dict(
            video=path,
            labels=labels,
            predicted=data['prediction']['leaf'],
            probability=data['prediction']['probability'])
        if data['abstain'] is not None:
            answer = data['abstain']['node']
            entry['abstain'] = data['abstain']
            entry['abstain_covers_labels'] = bool(
                answer != ROOT and bool(explainer.hierarchy.leaf_membership[
                    answer, torch.tensor(labels, dtype=torch.long)].all())
                and len(labels) > 0)
        if data['faithfulness'] is not None:
            faith = data['faithfulness']
            entry['faithfulness'] = {
                f'{name}_{k}': faith[f'{name}_{k}']
                for name in faith['scores']
                for k in ('drop_top', 'drop_random', 'ratio')
            }
            entry['faithfulness']['by_level'] = drops_by_level(
                faith, explainer)
        videos.append(entry)
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    return dict(videos=videos, summary=summarize(videos, explainer))


def drops_by_level(faith: Dict, explainer: PrototypeExplainer) -> Dict:
    """Mean drops of one explanation's deletion test, per level of the
    prototypes' nodes.

    Args:
        faith (dict): Output of :func:`.deletion_faithfulness`.
        explainer (PrototypeExplainer): Gives the level of every node.

    Returns:
        dict: level name -> score -> ``dict(drop_top, drop_random)``, the
        means over that level's prototypes (and random draws).
    """
    levels: Dict[str, List[Dict]] = {}
    for row in faith['prototypes']:
        levels.setdefault(explainer.level_name(row['node']), []).append(row)
    return {
        level: {
            name:
            dict(zip(('drop_top', 'drop_random'), mean_drops(rows, name)))
            for name in faith['scores']
        }
        for level, rows in levels.items()
    }


def _mean(values: Sequence[float]) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def summarize(videos: Sequence[Dict], explainer: PrototypeExplainer) -> Dict:
    """Summary of :func:`explain_split`'s per-video entries."""
    summary = dict(
        num_videos=len(videos),
        top1_in_labels=_mean(
            [float(v['predicted'] in v['labels']) for v in videos]))
    if videos and 'abstain' in videos[0]:
        names = list(explainer.level_names) + ['root']
        counts = dict.fromkeys(names, 0)
        for v in videos:
            counts[v['abstain']['level_name']] += 1
        summary['abstain'] = dict(
            min_confidence=videos[0]['abstain']['min_confidence'],
            level_fractions={
                k: c / len(videos)
                for k, c in counts.items()
            },
            covers_labels=_mean(
                [float(v['abstain_covers_labels']) for v in videos]))
    if videos and 'faithfulness' in videos[0]:
        keys = [
            k[:-len('_ratio')] for k in videos[0]['faithfulness']
            if k.endswith('_ratio')
        ]
        for key in keys:
            ratios = [
                v['faithfulness'][f'{key}_ratio'] for v in videos
                if v['faithfulness'][f'{key}_ratio'] is not None
            ]
            top = _mean([v['faithfulness'][f'{key}_drop_top'] for v in videos])
            random = _mean(
                [v['faithfulness'][f'{key}_drop_random'] for v in videos])
            summary[f'{key}_ratio_mean'] = _mean(ratios)
            summary[f'{key}_ratio_undefined'] = len(videos) - len(ratios)
            summary[f'{key}_drop_top_mean'] = top
            summary[f'{key}_drop_random_mean'] = random
            summary[f'{key}_ratio_pooled'] = drop_ratio(top, random)
        # pooled per level: e.g. the leaf level's node scores are the
        # class scores
        by_level: Dict[str, Dict] = {}
        for v in videos:
            for level, scores in v['faithfulness']['by_level'].items():
                for key, drops in scores.items():
                    pair = by_level.setdefault(key,
                                               {}).setdefault(level, ([], []))
                    pair[0].append(drops['drop_top'])
                    pair[1].append(drops['drop_random'])
        for key, levels in by_level.items():
            summary[f'{key}_ratio_pooled_by_level'] = {
                level: drop_ratio(_mean(top), _mean(random))
                for level, (top, random) in levels.items()
            }
    return summary
