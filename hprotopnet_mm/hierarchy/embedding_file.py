"""The hyperbolic class-embedding file and its checks.

The file is a ``torch.save`` of a dict of plain Python values and one tensor,
so it loads with ``torch.load(weights_only=True)``. Its node order is the
hierarchy's node order (see :mod:`.class_hierarchy`).
"""
import io
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, List, Optional

import torch

from .class_hierarchy import ClassHierarchy, HierarchyError

FILE_FORMAT = 'hprotopnet_mm.hyperbolic_embedding'
FILE_VERSION = 1


@dataclass
class HyperbolicEmbedding:
    """Points of the Poincare ball for every node of a class hierarchy.

    Args:
        node_names (list[str]): Node names in the hierarchy's node order.
        node_levels (list[int]): Level of each node, 0 for leaves.
        level_names (list[str]): Level names from the leaf upward.
        embeddings (torch.Tensor): ``(num_nodes, dim)`` points of the Poincare
            ball of ``curvature`` (norm < ``1 / sqrt(curvature)``), float32
            or float64 as trained. 2-D embeddings are float64 and may lie
            closer to the boundary than geoopt's float32 projection allows;
            compute with them in float64.
        curvature (float): Curvature magnitude ``c`` of the ball.
        meta (dict): Training settings, seed and quality report (plain
            Python values).
        node_parents (list[int]): Parent node id of each node, -1 for
            top-level nodes.
    """
    node_names: List[str]
    node_levels: List[int]
    level_names: List[str]
    embeddings: torch.Tensor
    curvature: float
    meta: dict
    node_parents: List[int]

    def __post_init__(self) -> None:
        num_nodes = len(self.node_names)
        if self.embeddings.dim() != 2 or self.embeddings.shape[0] != num_nodes:
            raise ValueError(
                f'embeddings must have shape ({num_nodes}, dim) for '
                f'{num_nodes} nodes, got {tuple(self.embeddings.shape)}')
        if len(self.node_levels) != num_nodes or len(
                self.node_parents) != num_nodes:
            raise ValueError(
                f'node_levels ({len(self.node_levels)}) and node_parents '
                f'({len(self.node_parents)}) must have one entry per node '
                f'({num_nodes})')
        if not self.curvature > 0:
            raise ValueError(
                f'curvature must be positive, got {self.curvature}')
        if not self.embeddings.is_floating_point() or not torch.isfinite(
                self.embeddings).all():
            raise ValueError('embeddings must be finite floating point')
        radius = 1.0 / math.sqrt(self.curvature)
        max_norm = self.embeddings.norm(dim=1).max().item()
        if max_norm >= radius:
            raise ValueError(
                f'embeddings lie outside the Poincare ball of radius '
                f'{radius}: largest norm {max_norm}')

    @property
    def num_nodes(self) -> int:
        """Number of embedded nodes."""
        return len(self.node_names)

    @property
    def dim(self) -> int:
        """Dimension of the ball."""
        return self.embeddings.shape[1]

    @classmethod
    def from_hierarchy(cls,
                       hierarchy: ClassHierarchy,
                       embeddings: torch.Tensor,
                       curvature: float,
                       meta: Optional[dict] = None) -> 'HyperbolicEmbedding':
        """Wrap ``embeddings`` of ``hierarchy``'s nodes with its node table.

        Args:
            hierarchy (ClassHierarchy): The embedded tree.
            embeddings (torch.Tensor): ``(num_nodes, dim)`` points in the
                hierarchy's node order.
            curvature (float): Curvature magnitude of the ball.
            meta (dict, optional): Settings and report. Defaults to ``{}``.
        """
        return cls(
            node_names=list(hierarchy.node_names),
            node_levels=hierarchy.node_levels.tolist(),
            level_names=list(hierarchy.level_names),
            embeddings=embeddings.detach().cpu().contiguous(),
            curvature=float(curvature),
            meta=dict(meta or {}),
            node_parents=hierarchy.parent.tolist())

    def check_matches(self, hierarchy: ClassHierarchy, source: str) -> None:
        """Raise unless this embedding was made for ``hierarchy``.

        Compares level names, then node by node (in node-id order) the name,
        the level and the parent, so a different leaf set, another leaf
        order or other ancestors are all caught.

        Args:
            hierarchy (ClassHierarchy): The hierarchy the caller uses.
            source (str): Where the embedding came from (a file name), for
                the message.

        Raises:
            HierarchyError: Naming the first mismatching node.
        """
        against = f'hierarchy {hierarchy.hierarchy_source}'
        if tuple(self.level_names) != tuple(hierarchy.level_names):
            raise HierarchyError(
                f'{source}: embedding levels {list(self.level_names)} differ '
                f'from the levels {list(hierarchy.level_names)} of {against}')
        names, levels = hierarchy.node_names, hierarchy.node_levels.tolist()
        parents = hierarchy.parent.tolist()
        for node in range(max(self.num_nodes, hierarchy.num_nodes)):
            mine = self._describe(node, self.node_names, self.node_levels)
            theirs = self._describe(node, names, levels)
            if mine != theirs:
                raise HierarchyError(
                    f'{source}: node {node} is {mine} in the embedding but '
                    f'{theirs} in {against}')
        for node in range(self.num_nodes):
            mine = self._parent_name(self.node_parents[node], self.node_names)
            theirs = self._parent_name(parents[node], names)
            if mine != theirs:
                raise HierarchyError(
                    f'{source}: node {node} {names[node]!r} has parent '
                    f'{mine} in the embedding but {theirs} in {against}')

    def _describe(self, node: int, names: List[str], levels: List[int]) -> str:
        """Name and level of ``node`` in a node table, or 'missing'."""
        if node >= len(names):
            return 'missing'
        return f'{names[node]!r} (level {self.level_names[levels[node]]!r})'

    @staticmethod
    def _parent_name(parent: int, names: List[str]) -> str:
        """Quoted parent name, or 'none (top level)'."""
        return 'none (top level)' if parent < 0 else repr(names[parent])


def _check_plain(value: Any, where: str) -> None:
    """Raise unless ``value`` holds only types ``weights_only`` loads."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f'{where}: key {key!r} is not a str')
            _check_plain(item, f'{where}.{key}')
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f'{where}[{i}]')
    elif type(value) not in (str, int, float, bool, type(None)):
        # exact types: subclasses (numpy scalars, torch's version string)
        # pickle as globals that weights_only loading refuses
        raise TypeError(
            f'{where}: {type(value).__name__} is not a plain Python value')


def save_embedding(path: str, embedding: HyperbolicEmbedding) -> None:
    """Write ``embedding`` to ``path`` (``torch.save`` of plain values).

    The bytes depend only on the embedding, not on the file name, so the
    same embedding always gives the same file.

    Args:
        path (str): Output file; missing folders are created.
        embedding (HyperbolicEmbedding): What to save.
    """
    _check_plain(embedding.meta, 'meta')
    payload = dict(
        format=FILE_FORMAT,
        version=FILE_VERSION,
        node_names=list(embedding.node_names),
        node_levels=[int(v) for v in embedding.node_levels],
        node_parents=[int(v) for v in embedding.node_parents],
        level_names=list(embedding.level_names),
        embeddings=embedding.embeddings.detach().cpu().clone(),
        curvature=float(embedding.curvature),
        meta=embedding.meta)
    # torch.save names the archive after the file; a buffer keeps the bytes
    # independent of the output name.
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'wb') as f:
        f.write(buffer.getvalue())


def load_embedding(path: str) -> HyperbolicEmbedding:
    """Read a file written by :func:`save_embedding`.

    Uses ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        HierarchyError: If the file is not a hyperbolic embedding file or
            its contents are inconsistent.
    """
    payload = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(payload, dict) or payload.get('format') != FILE_FORMAT:
        raise HierarchyError(
            f'{path}: not a hyperbolic embedding file (expected format '
            f'{FILE_FORMAT!r})')
    if payload.get('version') != FILE_VERSION:
        raise HierarchyError(
            f'{path}: embedding file version {payload.get("version")!r} is '
            f'not supported (expected {FILE_VERSION})')
    try:
        embedding = HyperbolicEmbedding(
            node_names=payload['node_names'],
            node_levels=payload['node_levels'],
            level_names=payload['level_names'],
            embeddings=payload['embeddings'],
            curvature=payload['curvature'],
            meta=payload['meta'],
            node_parents=payload['node_parents'])
    except (KeyError, ValueError) as e:
        raise HierarchyError(f'{path}: bad embedding file: {e!r}') from e
    settings = embedding.meta.get('settings') or {}
    if 'dim' in settings and settings['dim'] != embedding.dim:
        raise HierarchyError(
            f'{path}: the embeddings have dim {embedding.dim} but were '
            f'trained with dim {settings["dim"]} (meta.settings)')
    if 'curvature' in settings and not math.isclose(
            settings['curvature'], embedding.curvature, rel_tol=1e-6):
        raise HierarchyError(
            f'{path}: curvature {embedding.curvature} but the embeddings '
            f'were trained with curvature {settings["curvature"]} '
            '(meta.settings)')
    return embedding
