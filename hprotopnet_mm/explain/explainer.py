"""Explain the prediction of a prototype network on one video (Sec. 4.6).

:class:`PrototypeExplainer` decodes a video with the test pipeline, runs the
recognizer and answers, for the predicted leaf, each of its ancestors (one
row per level of the hierarchy) and the next most likely leaves: which
prototypes of that node are most similar to the clip, where in the clip
(activation maps, :mod:`.activation_maps`), how much each one raises the
node's logit (:mod:`.contributions`), and which training clip and patch it
was projected onto (:mod:`.source_clips`).

Multi-clip test pipelines: the prediction combines the clips as the head's
``average_clips`` says (``'score'``: softmax of the mean logits; otherwise
the mean of the clip probabilities). The clip explained is the one with the
highest probability of the predicted leaf (the first such clip on ties).

Prototypes pruned after projection (zero last-layer column,
``prototype_sources['pruned']``) take no part in the prediction and are not
reported.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hprotopnet_mm.engine.projection import nearest_cells, prototype_head
from .abstain import ROOT, abstain_predict, node_probabilities
from .activation_maps import (clip_activation_maps, frame_boxes,
                              high_activation_mask)
from .clip_video import ACTIVATION_BOX, clip_video, frame_labels, heat_overlay
from .contributions import (node_log_probabilities, node_logits,
                            prototype_contributions)
from .faithfulness import deletion_faithfulness
from .loading import (check_video, frame_indices, head_outputs, load_clips,
                      preprocess, to_frames)
from .source_clips import SourceClips

NOTES = dict(
    similarity='log((d + 1) / (d + epsilon)) of the smallest squared L2 '
    'distance d between the prototype and any patch of the clip (Eq. 5)',
    contribution="change of the node's log-probability when the "
    "prototype's similarity is set to 0, all other similarities kept (a "
    "node's probability sums the probabilities of the leaves under it)",
    logit_contribution="the same change of the node's logit: a leaf's "
    'logit is the class logit, an ancestor\'s the log-sum-exp of the logits '
    'of the leaves under it; hyperbolic logits share a term that grows with '
    'the radius of the embedding and that the softmax ignores',
    activation_map='similarity of the prototype to every patch, spread to '
    'the cells each patch covers, upsampled trilinearly over frames, '
    'height and width to the clip the model saw; colours scaled per clip '
    'from its minimum (blue) to its maximum (red)',
    activation_box='yellow box: per frame, the pixels at or above the '
    '{percentile}th percentile of the activation map over the whole clip',
    source_box='green box: the projected patch (its cells of the feature '
    'map divided evenly over the frames and pixels); frames outside it are '
    'darkened',
    animations='frame numbers are those of the video; an activation '
    'animation starts at the frame of its highest activation, a source '
    'animation at the first frame of the patch, and both loop',
    clip_choice='the clips of a multi-clip pipeline are combined as the '
    "head's average_clips says; the clip explained is the one with the "
    'highest probability of the predicted leaf',
    node_probability='sum of the probabilities of the leaves under the node')


@dataclass
class Explanation:
    """An explanation: JSON-ready numbers and the rendered clips.

    Attributes:
        data (dict): Everything numeric and textual (``explanation.json``).
        images (dict): File name (e.g. ``'clips/p0012_test.webm'``) -> WebM
            bytes, referenced by name from ``data``.
    """
    data: Dict
    images: Dict[str, bytes] = field(default_factory=dict)


class PrototypeExplainer:
    """Explanations of a recognizer with a prototype head.

    Args:
        model (nn.Module): Recognizer whose ``cls_head`` is a prototype head
            (``HierarchicalProtoHead`` or ``ProtoPNetHead``), in eval mode.
        test_pipeline (Sequence[dict]): Decodes the video to explain.
        source_pipeline (Sequence[dict], optional): The projection's
            pipeline; without it prototype sources are described but not
            shown.
        source_info (dict, optional): ``start_index`` and ``modality`` of
            the projection dataset.
        percentile (float): Percentile of the high-activation region.
        clip_scale (int, optional): Integer enlargement of the clips shown;
            None: about 224 px on the longer side.
    """

    def __init__(self,
                 model: nn.Module,
                 test_pipeline: Sequence[dict],
                 source_pipeline: Optional[Sequence[dict]] = None,
                 source_info: Optional[Dict] = None,
                 percentile: float = 95,
                 clip_scale: Optional[int] = None) -> None:
        self.model = model.eval()
        self.head = prototype_head(model)
        self.test_pipeline = list(test_pipeline)
        self.sources = SourceClips(self.model, self.head, source_pipeline,
                                   source_info, clip_scale)
        self.percentile = percentile
        self.clip_scale = clip_scale
        self.hierarchy = self.head.hierarchy
        device = self.head.prototype_vectors.device
        self.membership = self.hierarchy.leaf_membership.to(device)
        self.node_names = list(self.hierarchy.node_names)
        self.level_names = list(self.hierarchy.level_names)
        self.prototype_node = self.head.prototype_node.detach().cpu()
        sources = self.head.prototype_sources
        self.pruned = set(sources.pruned if sources is not None else [])

    @property
    def device(self) -> torch.device:
        return self.head.prototype_vectors.device

    # ------------------------------------------------------------------
    # model
    # ------------------------------------------------------------------
    def head_outputs(self, clips: Tensor) -> Dict[str, Tensor]:
        """:func:`.head_outputs` of the model on clips (V, C, T, H, W)."""
        return head_outputs(self.model, self.head, clips)

    def scores(self, clips: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Similarities (M, P) and node scores of clips (M, C, T, H, W), in
        one batch: ``node_log_prob`` (M, N), the log-probability of every
        node (its leaves' probabilities summed), and ``node_logit`` (M, N),
        see :func:`.node_logits`."""
        with torch.no_grad():
            feats, _ = self.model.extract_feat(
                clips[:, None].to(self.device), test_mode=True)
            out = self.head.forward_explain(feats)
        logits = out['cls_score']
        return out['similarities'], dict(
            node_log_prob=node_log_probabilities(logits, self.membership),
            node_logit=node_logits(logits, self.membership))

    def _leaf_probabilities(self, cls_score: Tensor) -> Tensor:
        """Video-level leaf probabilities (K,) from clip logits (V, K)."""
        if self.head.average_clips == 'score':
            return F.softmax(cls_score.mean(dim=0), dim=-1)
        return F.softmax(cls_score, dim=-1).mean(dim=0)

    # ------------------------------------------------------------------
    # explanation
    # ------------------------------------------------------------------
    def explain(self,
                video: str,
                topk_classes: int = 2,
                topk_prototypes: int = 3,
                min_confidence: Optional[float] = None,
                faithfulness: bool = False,
                faithfulness_options: Optional[Dict] = None,
                render: bool = True) -> Explanation:
        """Explain the prediction on one video.

        Args:
            video (str): Video file (anything decord reads).
            topk_classes (int): Alternative leaves to report after the
                predicted one.
            topk_prototypes (int): Prototypes reported per node.
            min_confidence (float, optional): Also give the abstaining
                prediction (:func:`.abstain_predict`) at this threshold.
            faithfulness (bool): Run the deletion test
                (:func:`.deletion_faithfulness`) on the prototypes of the
                predicted leaf and its ancestors.
            faithfulness_options (dict, optional): Keyword arguments of
                :func:`.deletion_faithfulness` (``num_random``, ``seed``,
                ``fill``, ``batch_size``).
            render (bool): Render the clips (off for numbers only).

        Returns:
            Explanation: Numbers and clips.
        """
        if topk_classes < 0 or topk_prototypes < 1:
            raise ValueError('topk_classes must be >= 0 and topk_prototypes '
                             f'>= 1, got {topk_classes} and {topk_prototypes}')
        num_video_frames = check_video(video)
        sample = load_clips(self.test_pipeline, video)
        raw, inputs = preprocess(self.model, sample)
        out = self.head_outputs(inputs)
        clip_probs = F.softmax(out['cls_score'], dim=-1)
        leaf_probs = self._leaf_probabilities(out['cls_score'])
        predicted = int(leaf_probs.argmax())
        clip = int(clip_probs[:, predicted].argmax())
        node_probs = (leaf_probs.double() @ self.membership.double().t()).cpu()
        similarities = out['similarities'][clip]
        contributions, logit_contributions = (
            c.cpu() for c in prototype_contributions(
                similarities, self.head.logits_from_similarities,
                self.membership))
        activations = clip_activation_maps(
            out['distance_maps'][clip], self.head.prototype_layer.epsilon,
            self.head.prototype_layer.prototype_shape, raw.shape[2:]).cpu()
        inds = frame_indices(sample, clip)
        context = dict(
            out=out,
            clip=clip,
            frames=to_frames(raw[clip]),
            frame_inds=inds,
            similarities=similarities.cpu(),
            contributions=contributions,
            logit_contributions=logit_contributions,
            activations=activations,
            predicted=predicted,
            render=render)
        images: Dict[str, bytes] = {}

        path = self._node_path(predicted)
        levels = []
        for level in reversed(range(len(path))):
            node = path[level]
            levels.append(
                dict(
                    level=level,
                    level_name=self.level_names[level],
                    node=node,
                    node_name=self.node_names[node],
                    probability=float(node_probs[node]),
                    prototypes=self._prototype_rows(node, topk_prototypes,
                                                    context, images)))
        ranking = torch.argsort(leaf_probs, descending=True, stable=True)
        alternatives = []
        for rank, leaf in enumerate(ranking[1:topk_classes + 1].tolist()):
            alternatives.append(
                dict(
                    rank=rank + 2,
                    node=leaf,
                    node_name=self.node_names[leaf],
                    probability=float(node_probs[leaf]),
                    prototypes=self._prototype_rows(leaf, topk_prototypes,
                                                    context, images)))
        data = dict(
            video=osp.abspath(video),
            video_frames=num_video_frames,
            num_clips=int(raw.shape[0]),
            explained_clip=clip,
            frame_inds=inds,
            clip_size=list(raw.shape[2:]),
            feature_size=list(out['z'].shape[2:]),
            distance_grid=list(out['distance_maps'].shape[2:]),
            prototype_shape=list(self.head.prototype_layer.prototype_shape),
            head=type(self.head).__name__,
            average_clips=self.head.average_clips,
            projection=self._projection_info(),
            prediction=dict(
                leaf=predicted,
                name=self.node_names[predicted],
                probability=float(leaf_probs[predicted]),
                leaf_probabilities=leaf_probs.tolist(),
                clip_leaf_probabilities=clip_probs.tolist(),
                node_probabilities=node_probs.tolist()),
            levels=levels,
            alternatives=alternatives,
            abstain=self._abstain(leaf_probs, min_confidence),
            faithfulness=None,
            notes=dict(
                NOTES,
                activation_box=NOTES['activation_box'].format(
                    percentile=self.percentile)),
            node_names=self.node_names,
            level_names=self.level_names)
        if faithfulness:
            data['faithfulness'] = self._faithfulness(
                inputs[clip], levels, activations, faithfulness_options or {})
        return Explanation(data=data, images=images)

    def level_name(self, node: int) -> str:
        """Name of the level of ``node``."""
        return self.level_names[int(self.hierarchy.node_levels[node])]

    def _node_path(self, leaf: int) -> List[int]:
        """Node ids of ``leaf`` and its ancestors, leaf first."""
        return self.hierarchy.ancestor_path(leaf)

    def _projection_info(self) -> Dict:
        sources = self.head.prototype_sources
        if sources is None:
            return dict(projected=False)
        return dict(
            projected=True,
            **{
                k: v
                for k, v in sources.to_plain().items() if k != 'prototypes'
            })

    def _abstain(self, leaf_probs: Tensor,
                 min_confidence: Optional[float]) -> Optional[Dict]:
        if min_confidence is None:
            return None
        if self.hierarchy.num_levels < 2:
            raise ValueError('--min-confidence needs a hierarchical head; '
                             f'{type(self.head).__name__} has flat classes')
        probs = leaf_probs.double().cpu()
        probs = probs / probs.sum()
        node = abstain_predict(probs, self.hierarchy, min_confidence)
        if node == ROOT:
            return dict(
                min_confidence=min_confidence,
                node=ROOT,
                node_name=None,
                level_name='root',
                probability=1.0)
        return dict(
            min_confidence=min_confidence,
            node=node,
            node_name=self.node_names[node],
            level_name=self.level_name(node),
            probability=float(
                node_probabilities(probs, self.hierarchy)[0, node]))

    def top_prototypes(self, node: int, similarities: Tensor,
                       topk: int) -> List[int]:
        """The (unpruned) prototypes of ``node`` with the ``topk`` highest
        of the ``similarities`` (P, ), most similar first."""
        candidates = [
            p for p in torch.nonzero(
                self.prototype_node == node).flatten().tolist()
            if p not in self.pruned
        ]
        candidates.sort(key=lambda p: -float(similarities[p]))
        return candidates[:topk]

    def _prototype_rows(self, node: int, topk: int, context: Dict,
                        images: Dict[str, bytes]) -> List[Dict]:
        """The top-k prototypes of ``node`` by similarity, with numbers,
        sources and clips."""
        sims = context['similarities']
        rows = []
        distance_maps = context['out']['distance_maps'][context['clip']]
        grid = distance_maps.shape[1:]
        _, cells = nearest_cells(distance_maps)
        for p in self.top_prototypes(node, sims, topk):
            best = int(cells[p])
            row = dict(
                prototype=p,
                node=int(self.prototype_node[p]),
                node_name=self.node_names[int(self.prototype_node[p])],
                similarity=float(sims[p]),
                min_distance=float(
                    context['out']['min_distances'][context['clip'], p]),
                contribution=float(context['contributions'][p, node]),
                contribution_to_predicted=float(
                    context['contributions'][p, context['predicted']]),
                logit_contribution=float(context['logit_contributions'][p,
                                                                        node]),
                best_cell=[int(c) for c in np.unravel_index(best, grid)],
                activation_clip=None)
            row.update(self.sources.describe(p, context['render'], images))
            if context['render']:
                name = f'clips/p{p:04d}_test.webm'
                if name not in images:
                    images[name] = self._test_clip(context['frames'],
                                                   context['activations'][p],
                                                   context['frame_inds'])
                row['activation_clip'] = name
            rows.append(row)
        return rows

    def _test_clip(self, frames: np.ndarray, activation: Tensor,
                   frame_inds: Sequence[int]) -> bytes:
        mask = high_activation_mask(activation, self.percentile)
        boxes = [[(box, ACTIVATION_BOX)] if box is not None else []
                 for box in frame_boxes(mask)]
        labels = frame_labels(frame_inds, len(frames))
        return clip_video(
            heat_overlay(frames, activation.numpy()),
            boxes,
            labels=labels,
            start=int(activation.flatten(1).amax(dim=1).argmax()),
            scale=self.clip_scale)

    # ------------------------------------------------------------------
    # faithfulness
    # ------------------------------------------------------------------
    def _faithfulness(self, clip: Tensor, levels: List[Dict],
                      activations: Tensor, options: Dict) -> Dict:
        targets = [(row['prototype'], level['node']) for level in levels
                   for row in level['prototypes']]
        result = deletion_faithfulness(
            self.scores,
            clip,
            targets,
            activations[[p for p, _ in targets]],
            percentile=self.percentile,
            **options)
        result['scope'] = 'prototypes of the predicted leaf and its ' \
            'ancestors'
        return result
