"""The hierarchical accuracy metric (Sec. 5.2) for MMEngine's evaluator; the
computation is in :mod:`hprotopnet_mm.evaluation.functional`."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.evaluator import BaseMetric

from mmaction.registry import METRICS
from ...datasets import STAND_IN_KEY
from ...hierarchy import ClassHierarchy
from ..functional import (SCORE_TYPES, as_k_tuple, evaluate_records,
                          prediction_record)


@METRICS.register_module()
class HierarchicalAccuracy(BaseMetric):
    """Class, sibling and cousin accuracy, per-level accuracy and hop-mAP.

    Reads the outputs of any MMAction2 recognizer: ``pred_score`` of shape
    (C,) (one clip, or clips already averaged by the head) or (num_clips, C)
    (per-clip scores, ``model.cls_head.average_clips=None``), and
    ``gt_label`` of shape (1,). Clips of data samples with the same
    ``video_key`` metainfo are one video; a sample without it is a video of
    its own. See the module docstring for the ``clip``, ``video_vote`` and
    ``video_avg`` modes and :func:`ranking_metrics` for the metric names
    (``{prefix}/{mode}/{metric}``).

    Args:
        hierarchy_file (str): The class tree (``ClassHierarchy`` CSV).
        label_map_file (str): The label map of the dataset.
        topk (int | tuple[int]): k of the top-k accuracies. Defaults to
            (1, 5).
        hop_map_k (int | tuple[int]): k of the hop-mAPs. Defaults to
            (1, 5, 10).
        score_type (str): ``'logits'`` (softmax applied before averaging and
            ranking) or ``'probs'`` (scores already are probabilities).
            Defaults to ``'logits'``.
        video_key (str): Metainfo key naming a sample's video. Defaults to
            ``'filename'``.
        collect_device (str): Device used to collect results across ranks.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'hier'``.
        collect_dir (str, optional): Directory used to collect results across
            ranks when ``collect_device`` is ``'cpu'``.
    """
    default_prefix: Optional[str] = 'hier'

    def __init__(self,
                 hierarchy_file: str,
                 label_map_file: str,
                 topk: Union[int, Tuple[int, ...]] = (1, 5),
                 hop_map_k: Union[int, Tuple[int, ...]] = (1, 5, 10),
                 score_type: str = 'logits',
                 video_key: str = 'filename',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if score_type not in SCORE_TYPES:
            raise ValueError(f'score_type must be one of {SCORE_TYPES}, '
                             f'got {score_type!r}')
        self.hierarchy = ClassHierarchy.from_files(hierarchy_file,
                                                   label_map_file)
        self.hierarchy_file = hierarchy_file
        num_classes = self.hierarchy.num_leaves
        self.topk = as_k_tuple(topk, 'topk', num_classes)
        self.hop_map_k = as_k_tuple(hop_map_k, 'hop_map_k', num_classes)
        self.score_type = score_type
        self.video_key = video_key

    def process(self, data_batch: Sequence, data_samples: Sequence[dict]):
        """Store the scores, label and video id of every data sample.

        Args:
            data_batch (Sequence): A batch of data from the dataloader
                (unused).
            data_samples (Sequence[dict]): Outputs of the model; samples
                that stand in for a video that failed to decode are left
                out.
        """
        for data_sample in data_samples:
            if data_sample.get(STAND_IN_KEY):
                # it stands in for a video that failed to decode
                # (CheckedVideoDataset, on_bad_video='skip'): not scored
                continue
            where = (f'data sample {len(self.results)} (video '
                     f'{data_sample.get(self.video_key, "unnamed")}, '
                     f'hierarchy {self.hierarchy_file})')
            self.results.append(
                prediction_record(data_sample, self.hierarchy.num_leaves,
                                  self.video_key, where))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute the metrics of all processed samples.

        Args:
            results (list[dict]): Records of all samples (all ranks).

        Returns:
            dict: See :func:`hierarchical_accuracy`.
        """
        return evaluate_records(
            results,
            self.hierarchy,
            topk=self.topk,
            hop_map_k=self.hop_map_k,
            score_type=self.score_type)
