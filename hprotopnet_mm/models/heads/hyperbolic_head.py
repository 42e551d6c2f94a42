"""Hyperbolic classification head without prototypes (baseline)."""
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.model.weight_init import normal_init
from torch import Tensor, nn

from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from mmaction.utils import ConfigType
from ..layers import HyperbolicLogits
from .batch_inputs import select_feature
from .hierarchy_loading import load_hierarchy_and_embedding
from .level_scores import LevelScoresMixin


@MODELS.register_module()
class HyperbolicHead(LevelScoresMixin, BaseHead):
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
        hierarchy_file, label_map_file, embedding_file, curvature,
        temperature, clip_radius: as in ``HierarchicalProtoHead``.
        spatial_type (str): Global pooling over (T, H, W), 'avg' or 'max'
            (see ``MaxPoolI3DHead``). Defaults to 'avg'.
        dropout_ratio (float): Dropout before ``fc_cls``. Defaults to 0.
        init_std (float): Std of the normal initialisation of ``fc_cls``.
            Defaults to 0.01.
        loss_cls (dict): Config of the loss. Defaults to
            ``dict(type='CrossEntropyLoss')``.
        topk, average_clips, init_cfg: as in MMAction2's ``BaseHead``.
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
                                           temperature, clip_radius)
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
