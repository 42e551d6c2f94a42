"""Hyperbolic classification head without prototypes (baseline)."""
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.model.weight_init import normal_init
from torch import Tensor, nn

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from mmaction.utils import ConfigType, SampleList
from ..layers import HyperbolicLogits
from .batch_inputs import select_feature
from .hierarchy_loading import load_hierarchy_and_embedding
from .level_scores import set_level_scores


@MODELS.register_module()
class HyperbolicHead(BaseHead):
    """Pooled backbone features classified by their geodesic distances to
    hyperbolic class embeddings.

    Features (B, C, T, H, W) -> global average or max pooling -> dropout ->
    ``fc_cls`` Linear(in_channels, D) -> ``h_e = expmap0`` into the Poincare
    ball (Eq. 6) -> logits ``-d_c(h_e, phi_k) / tau`` over the leaf
    embeddings phi (Eq. 9), trained with cross-entropy (Eq. 8). The
    embeddings come from ``embedding_file`` and are not trained.

    :meth:`predict` sets ``pred_score``, ``pred_label`` and
    ``pred_level_scores`` exactly as ``HierarchicalProtoHead`` does.

    Args:
        num_classes (int): Number of leaf classes; must equal the number of
            leaves of the hierarchy.
        in_channels (int): Channels of the backbone features.
        hierarchy_file (str): Hierarchy CSV (see ``ClassHierarchy``).
        label_map_file (str): Label map, one class name per line.
        embedding_file (str): Hyperbolic embedding of the hierarchy's nodes.
        curvature (float, optional): c > 0 of the ball; None takes the
            embedding file's, any other value must equal it.
            Defaults to None.
        temperature (float): tau of Eq. 9. Defaults to 1.0.
        clip_radius (str | float, optional): Clip the tangent vectors
            before ``expmap0``: None (the paper), 'leaves' (to the leaf
            embeddings' largest tangent norm) or a tangent norm; see
            ``HyperbolicLogits``. Defaults to None.
        spatial_type (str): Global pooling over (T, H, W), 'avg' or 'max'
            (see ``MaxPoolI3DHead``). Defaults to 'avg'.
        dropout_ratio (float): Dropout before ``fc_cls``. Defaults to 0.
        init_std (float): Std of the normal initialisation of ``fc_cls``.
            Defaults to 0.01.
        loss_cls (dict): Config of the loss. Defaults to
            ``dict(type='CrossEntropyLoss')``.
        topk (int | tuple[int]): Top-k accuracies to log.
            Defaults to (1, 5).
        average_clips (str, optional): 'score', 'prob' or None.
            Defaults to None.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 hierarchy_file: str,
                 label_map_file: str,
                 embedding_file: str,
                 curvature: Optional[float] = None,
                 temperature: float = 1.0,
                 clip_radius: Optional[Union[str, float]] = None,
                 spatial_type: str = 'avg',
                 dropout_ratio: float = 0.0,
                 init_std: float = 0.01,
                 loss_cls: ConfigType = dict(type='CrossEntropyLoss'),
                 topk: Union[int, Tuple[int]] = (1, 5),
                 average_clips: Optional[str] = None,
                 init_cfg: Optional[ConfigType] = None) -> None:
        pools = dict(avg=nn.AdaptiveAvgPool3d, max=nn.AdaptiveMaxPool3d)
        if spatial_type not in pools:
            raise ValueError(f'{type(self).__name__}: spatial_type must be '
                             f'"avg" or "max", got {spatial_type!r}')
        hierarchy, embedding, curvature = load_hierarchy_and_embedding(
            type(self).__name__, num_classes, hierarchy_file, label_map_file,
            embedding_file, curvature)
        super().__init__(
            num_classes,
            in_channels,
            loss_cls,
            topk=topk,
            average_clips=average_clips,
            init_cfg=init_cfg)
        self.hierarchy = hierarchy
        self.init_std = init_std
        self.spatial_type = spatial_type
        self.pool = pools[spatial_type]((1, 1, 1))
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio else None
        self.hyperbolic = HyperbolicLogits(embedding.embeddings,
                                           hierarchy.num_leaves, curvature,
                                           temperature,
                                           clip_radius)
        self.fc_cls = nn.Linear(in_channels,
                                self.hyperbolic.node_embeddings.shape[1])
        normal_init(self.fc_cls, std=init_std)
        # Derived from the hierarchy file, not saved.
        self.register_buffer(
            'leaf_membership',
            hierarchy.leaf_membership.float(),
            persistent=False)

    def forward_explain(self, x: Union[Tensor, Tuple[Tensor]],
                        **kwargs) -> Dict[str, Tensor]:
        """Logits and the point of every clip in the ball.

        Args:
            x (Tensor | tuple[Tensor]): Backbone features (B, C, T, H, W),
                or a tuple of them, of which the last is used.

        Returns:
            dict[str, Tensor]: float32 ``cls_score`` (B, K) and
            ``embedding`` (B, D).
        """
        x = self.pool(select_feature(x, type(self).__name__))
        x = x.flatten(1)
        if self.dropout is not None:
            x = self.dropout(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            logits, h = self.hyperbolic(self.fc_cls(x.float()))
        return dict(cls_score=logits, embedding=h)

    def forward(self, x: Union[Tensor, Tuple[Tensor]], **kwargs) -> Tensor:
        """Class logits, float32, shape (B, K)."""
        return self.forward_explain(x)['cls_score']

    def predict_by_feat(self, cls_scores: Tensor,
                        data_samples: SampleList) -> SampleList:
        """Leaf predictions as in ``BaseHead`` plus ``pred_level_scores``.

        Args:
            cls_scores (Tensor): Leaf logits, shape (B * num_clips, K).
            data_samples (list[ActionDataSample]): The samples.

        Returns:
            list[ActionDataSample]: The samples with predictions.
        """
        data_samples = super().predict_by_feat(cls_scores, data_samples)
        return set_level_scores(data_samples, self.leaf_membership,
                                self.hierarchy, self.average_clips)
