"""A class hierarchy: a fixed-depth tree above the classes of a dataset.

The hierarchy file is a CSV table with one row per leaf class. Its header
names the levels from the leaf upward and starts with ``leaf``::

    # comment lines and blank lines are ignored
    leaf,parent,grandparent
    ApplyEyeMakeup,Self-grooming,Human-Object Interaction

The leaves are the classes of a label map (one class name per line, label
index = line index, as MMAction2 reads it). Above the top level there is an
implicit root that is not a node.

A name names exactly one node of the tree, so a name may appear at only one
level. Cells are taken verbatim: a name with leading or trailing whitespace is
an error, not something to strip. Quoted cells follow the ``csv`` module
rules, but a cell may not span lines.

Node ids: the leaves first, in label-map order (node id == label index), then
all level-1 nodes, then all level-2 nodes, and so on. Within a level, nodes
are ordered by first appearance when scanning the leaves in label-map order,
so the ids depend only on the label map and the tree, never on the row order
of the CSV file.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from .hierarchy_files import (HierarchyError, read_hierarchy_table,
                              read_label_map_with_lines)
from .hierarchy_files import where as _where


def _first_if_other(seen: Dict, name: str, value, line: int):
    """Record ``(value, line)`` as the first seen for ``name``; return the
    first ``(value, line)`` when its value differs from ``value``, else
    None."""
    first = seen.setdefault(name, (value, line))
    return first if first[0] != value else None


class ClassHierarchy:
    """A validated class tree of fixed depth over the classes of a dataset.

    Usually built with :meth:`from_files`. The constructor takes the table
    already split into cells, which is convenient for trees built in code.

    Args:
        level_names (Sequence[str]): Level names from the leaf upward; the
            first must be ``'leaf'``, at least two levels.
        rows (Sequence[Sequence[str]]): One row per leaf: the leaf name, then
            its ancestors from the parent upward.
        class_names (Sequence[str]): The classes of the dataset in label
            order (the label map).
        hierarchy_source (str): Name of the table for error messages.
            Defaults to ``'<rows>'``.
        label_map_source (str): Name of the label map for error messages.
            Defaults to ``'<class_names>'``.
        header_line (int, optional): Line number of the header in
            ``hierarchy_source``, for error messages.
        row_lines (Sequence[int], optional): Line number of each row in
            ``hierarchy_source``, for error messages.
        label_map_lines (Sequence[int], optional): Line number of each class
            in ``label_map_source``, for error messages.

    Attributes:
        level_names (tuple[str]): Level names, e.g.
            ``('leaf', 'parent', 'grandparent')``.
        num_levels (int): Number of levels, the leaf level included.
        num_leaves (int): Number of leaves (classes).
        num_nodes (int): Number of nodes of all levels (no root).
        node_names (list[str]): Node names indexed by node id.
        node_levels (torch.LongTensor): ``(num_nodes,)`` level of each node,
            0 for leaves.
        parent (torch.LongTensor): ``(num_nodes,)`` parent node id, -1 for
            top-level nodes.
        leaf_ancestors (torch.LongTensor): ``(num_leaves, num_levels)``;
            ``[:, 0]`` is the leaf id, ``[:, l]`` its ancestor at level ``l``.
        leaf_membership (torch.BoolTensor): ``(num_nodes, num_leaves)``;
            ``[k, j]`` is True when leaf ``j`` is node ``k`` or lies under it.
        hop_distance (torch.LongTensor): ``(num_leaves, num_leaves)`` number
            of tree edges between two leaves: 0 for the same leaf, 2 for
            siblings, 4 for cousins, ..., ``2 * num_levels`` for leaves under
            different top-level nodes (joined by the implicit root).
        hierarchy_source (str): Where the tree came from.
        label_map_source (str): Where the class names came from.
    """

    def __init__(self,
                 level_names: Sequence[str],
                 rows: Sequence[Sequence[str]],
                 class_names: Sequence[str],
                 hierarchy_source: str = '<rows>',
                 label_map_source: str = '<class_names>',
                 header_line: Optional[int] = None,
                 row_lines: Optional[Sequence[Optional[int]]] = None,
                 label_map_lines: Optional[Sequence[Optional[int]]] = None
                 ) -> None:
        self.hierarchy_source = hierarchy_source
        self.label_map_source = label_map_source
        if row_lines is None:
            row_lines = [None] * len(rows)
        if label_map_lines is None:
            label_map_lines = [None] * len(class_names)
        if len(row_lines) != len(rows):
            raise ValueError('row_lines must give one line number per row')
        if len(label_map_lines) != len(class_names):
            raise ValueError(
                'label_map_lines must give one line number per class')

        self.level_names = tuple(level_names)
        self._check_level_names(header_line)
        self.num_levels = len(self.level_names)
        paths = self._check_rows(rows, row_lines)
        self._check_label_map(paths, list(class_names), label_map_lines)
        self._build(paths, list(class_names))

    # ------------------------------------------------------------------
    # reading files
    # ------------------------------------------------------------------
    @classmethod
    def from_files(cls, hierarchy_file: str,
                   label_map_file: str) -> 'ClassHierarchy':
        """Load and validate a hierarchy CSV file and a label map.

        Args:
            hierarchy_file (str): The hierarchy table (format in the module
                docstring).
            label_map_file (str): The label map, one class name per line.

        Returns:
            ClassHierarchy: The validated hierarchy.

        Raises:
            HierarchyError: If either file is malformed or they disagree.
        """
        class_names, label_lines = read_label_map_with_lines(label_map_file)
        header, header_line, rows, row_lines = read_hierarchy_table(
            hierarchy_file)
        return cls(
            header,
            rows,
            class_names,
            hierarchy_source=hierarchy_file,
            label_map_source=label_map_file,
            header_line=header_line,
            row_lines=row_lines,
            label_map_lines=label_lines)

    @staticmethod
    def read_label_map(path: str) -> List[str]:
        """Read a label map: one class name per line, index = line index.

        See :func:`.hierarchy_files.read_label_map_with_lines` for the rules.

        Args:
            path (str): The label map file.

        Returns:
            list[str]: The class names in label order.
        """
        return read_label_map_with_lines(path)[0]

    @classmethod
    def flat(cls,
             class_names: Sequence[str],
             source: str = '<flat classes>') -> 'ClassHierarchy':
        """A one-level hierarchy: the classes alone, joined by the implicit
        root (ProtoPNet's flat classes).

        Every class is a leaf and a top-level node; two different classes
        are 2 hops apart. Hierarchy files need at least two levels; this is
        the only way to build a one-level tree.

        Args:
            class_names (Sequence[str]): Distinct class names in label order.
            source (str): Name of the classes for error messages.

        Returns:
            ClassHierarchy: Levels ``('leaf', )``, ``num_nodes`` classes.
        """
        names = list(class_names)
        if not names or len(set(names)) != len(names):
            raise HierarchyError(f'{source}: a flat hierarchy needs distinct '
                                 f'class names, got {names}')
        hierarchy = cls.__new__(cls)
        hierarchy.hierarchy_source = hierarchy.label_map_source = source
        hierarchy.level_names = ('leaf', )
        hierarchy.num_levels = 1
        hierarchy._build({name: ((name, ), None) for name in names}, names)
        return hierarchy

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    def _check_level_names(self, header_line: Optional[int]) -> None:
        """Check the header: ``leaf`` first, >= 2 distinct non-empty names."""
        where = _where(self.hierarchy_source, header_line)
        names = self.level_names
        if len(names) < 2:
            raise HierarchyError(
                f'{where}: bad header {list(names)}: need at least two '
                "columns, 'leaf' and one ancestor level")
        if names[0] != 'leaf':
            raise HierarchyError(
                f"{where}: bad header {list(names)}: the first column must "
                f"be 'leaf', got {names[0]!r}")
        for name in names:
            if not name or name != name.strip():
                raise HierarchyError(
                    f'{where}: bad header {list(names)}: level name {name!r} '
                    'is empty or has surrounding whitespace')
        if len(set(names)) != len(names):
            raise HierarchyError(
                f'{where}: bad header {list(names)}: level names repeat')

    def _check_rows(
        self, rows: Sequence[Sequence[str]], row_lines: Sequence[Optional[int]]
    ) -> Dict[str, Tuple[Tuple[str, ...], Optional[int]]]:
        """Check every row and the tree they form.

        Returns:
            dict: leaf name -> (path from leaf to top, line number).
        """
        src = self.hierarchy_source
        if not rows:
            raise HierarchyError(
                f'{src}: the hierarchy has a header but no rows')
        num_levels = len(self.level_names)
        paths = {}
        # name -> (level, line) of its first appearance
        seen_level: Dict[str, Tuple[int, Optional[int]]] = {}
        # non-leaf name -> (its parent name, line) of its first appearance
        seen_parent: Dict[str, Tuple[str, Optional[int]]] = {}
        for row, line in zip(rows, row_lines):
            where = _where(src, line)
            row = tuple(row)
            if len(row) != num_levels:
                raise HierarchyError(
                    f'{where}: wrong column count: {len(row)} cells, the '
                    f'header names {num_levels} ({", ".join(self.level_names)}'
                    f'); row {list(row)}')
            for level, name in enumerate(row):
                if not name.strip():
                    raise HierarchyError(
                        f'{where}: ragged depth: empty '
                        f'{self.level_names[level]!r} cell in row '
                        f'{list(row)}; every leaf needs an ancestor at every '
                        'level')
                if name != name.strip():
                    raise HierarchyError(
                        f'{where}: name {name!r} (level '
                        f'{self.level_names[level]!r}) has leading or '
                        'trailing whitespace')
            for level, name in enumerate(row):
                if name in row[level + 1:]:
                    upper = row.index(name, level + 1)
                    raise HierarchyError(
                        f'{where}: cycle: {name!r} is its own ancestor (at '
                        f'levels {self.level_names[level]!r} and '
                        f'{self.level_names[upper]!r} of row {list(row)})')
            leaf = row[0]
            if leaf in paths:
                raise HierarchyError(
                    f'{where}: duplicate leaf {leaf!r} (first on '
                    f'{_where(src, paths[leaf][1])})')
            for level, name in enumerate(row):
                first = _first_if_other(seen_level, name, level, line)
                if first:
                    raise HierarchyError(
                        f'{where}: node {name!r} is at level '
                        f'{self.level_names[level]!r} here but at level '
                        f'{self.level_names[first[0]]!r} on '
                        f'{_where(src, first[1])}; a name names one node, '
                        'so this is a cycle or a node with two parents')
                parent = row[level + 1] if 0 < level < num_levels - 1 \
                    else None
                first = _first_if_other(seen_parent, name, parent, line)
                if first:
                    raise HierarchyError(
                        f'{where}: node {name!r} has two parents: '
                        f'{parent!r} here and {first[0]!r} on '
                        f'{_where(src, first[1])}')
            paths[leaf] = (row, line)
        return paths

    def _check_label_map(self, paths: Dict[str, tuple], class_names: List[str],
                         label_map_lines: Sequence[Optional[int]]) -> None:
        """Check that the tree's leaves are exactly the label-map classes."""
        if not class_names:
            raise HierarchyError(
                f'{self.label_map_source}: the label map is empty')
        first_line = {}
        for name, line in zip(class_names, label_map_lines):
            if name in first_line:
                raise HierarchyError(
                    f'{_where(self.label_map_source, line)}: class {name!r} '
                    'is listed twice')
            first_line[name] = line
            if name not in paths:
                raise HierarchyError(
                    f'{_where(self.label_map_source, line)}: class {name!r} '
                    f'of the label map is not a leaf of the hierarchy '
                    f'{self.hierarchy_source}')
        for leaf, (_, line) in paths.items():
            if leaf not in first_line:
                raise HierarchyError(
                    f'{_where(self.hierarchy_source, line)}: leaf {leaf!r} '
                    f'is not a class of the label map '
                    f'{self.label_map_source}')

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------
    def _build(self, paths: Dict[str, tuple], class_names: List[str]) -> None:
        """Assign node ids and build the lookup tensors."""
        num_levels = self.num_levels
        leaf_paths = [paths[name][0] for name in class_names]
        level_nodes: List[List[str]] = [list(class_names)]
        for level in range(1, num_levels):
            ordered = dict.fromkeys(path[level] for path in leaf_paths)
            level_nodes.append(list(ordered))

        self.node_names = [name for nodes in level_nodes for name in nodes]
        self._node_index = {name: i for i, name in enumerate(self.node_names)}
        self._level_starts = [0]
        for nodes in level_nodes:
            self._level_starts.append(self._level_starts[-1] + len(nodes))
        self.num_leaves = len(class_names)
        self.num_nodes = len(self.node_names)
        self.node_levels = torch.tensor(
            [level for level, nodes in enumerate(level_nodes) for _ in nodes],
            dtype=torch.long)

        self.leaf_ancestors = torch.tensor(
            [[self._node_index[name] for name in path] for path in leaf_paths],
            dtype=torch.long)
        parent = torch.full((self.num_nodes, ), -1, dtype=torch.long)
        for level in range(num_levels - 1):
            parent[self.leaf_ancestors[:, level]] = \
                self.leaf_ancestors[:, level + 1]
        self.parent = parent

        membership = torch.zeros(
            self.num_nodes, self.num_leaves, dtype=torch.bool)
        leaf_ids = torch.arange(self.num_leaves)
        for level in range(num_levels):
            membership[self.leaf_ancestors[:, level], leaf_ids] = True
        self.leaf_membership = membership

        # Ancestors that agree at one level agree at every level above, so
        # the number of levels that differ is the hop count to the meeting
        # point; leaves that differ everywhere meet at the implicit root.
        differ = (
            self.leaf_ancestors[:, None, :] != self.leaf_ancestors[None, :, :])
        self.hop_distance = 2 * differ.sum(dim=-1)

    # ------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------
    def level_node_ids(self, level: int) -> torch.LongTensor:
        """Node ids at ``level`` (0 = leaves), a contiguous range.

        Returns:
            torch.LongTensor: ``(num_nodes_at_level,)`` node ids.
        """
        self._check_level(level)
        return torch.arange(self._level_starts[level],
                            self._level_starts[level + 1])

    def level_labels(self, labels: torch.Tensor) -> torch.LongTensor:
        """Map leaf labels to the node ids of their whole ancestor path.

        Args:
            labels (torch.Tensor): ``(B,)`` (or any shape) integer leaf
                labels.

        Returns:
            torch.LongTensor: ``(B, num_levels)``; ``[:, l]`` is the node id of
            the label's ancestor at level ``l`` (``[:, 0]`` = the label).
        """
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise TypeError(
                f'labels must be an integer tensor, got {labels.dtype}')
        if labels.numel() and (labels.min() < 0
                               or labels.max() >= self.num_leaves):
            raise ValueError(
                f'labels must lie in [0, {self.num_leaves}), got values in '
                f'[{int(labels.min())}, {int(labels.max())}]')
        return self.leaf_ancestors.to(labels.device)[labels.long()]

    def leaves_under(self, node: Union[int, str]) -> List[int]:
        """Leaf ids (label indices) under ``node``, in label order.

        A leaf is "under" itself.

        Args:
            node (int | str): Node id or node name.
        """
        node = self._resolve(node)
        return torch.nonzero(self.leaf_membership[node]).flatten().tolist()

    def node_id(self, name: str, level: Optional[int] = None) -> int:
        """The node id of ``name``.

        Names are unique over the whole tree (validated on load), so a name
        is never ambiguous; ``level`` only confirms where the caller expects
        the node.

        Args:
            name (str): Node name.
            level (int, optional): Expected level of the node.

        Raises:
            HierarchyError: If there is no such node or it is at another
                level.
        """
        if name not in self._node_index:
            raise HierarchyError(
                f'{self.hierarchy_source}: no node named {name!r}')
        node = self._node_index[name]
        if level is not None:
            self._check_level(level)
            actual = int(self.node_levels[node])
            if actual != level:
                raise HierarchyError(
                    f'{self.hierarchy_source}: node {name!r} is at level '
                    f'{self.level_names[actual]!r}, not '
                    f'{self.level_names[level]!r}')
        return node

    def ancestor_path(self, leaf: int) -> List[int]:
        """Node ids from ``leaf`` up to its top-level ancestor.

        Args:
            leaf (int): Leaf id (label index).

        Returns:
            list[int]: ``[leaf, parent, ..., top]``, ``num_levels`` ids.
        """
        if not 0 <= leaf < self.num_leaves:
            raise IndexError(
                f'leaf id {leaf} out of range [0, {self.num_leaves})')
        return self.leaf_ancestors[leaf].tolist()

    def _check_level(self, level: int) -> None:
        """Raise if ``level`` is not a level index of this tree."""
        if not 0 <= level < self.num_levels:
            raise IndexError(
                f'level {level} out of range [0, {self.num_levels}) for '
                f'levels {self.level_names}')

    def _resolve(self, node: Union[int, str]) -> int:
        """Turn a node id or node name into a checked node id."""
        if isinstance(node, str):
            return self.node_id(node)
        if not 0 <= node < self.num_nodes:
            raise IndexError(
                f'node id {node} out of range [0, {self.num_nodes})')
        return int(node)

    def __repr__(self) -> str:
        sizes = ', '.join(
            f'{name}={self._level_starts[i + 1] - self._level_starts[i]}'
            for i, name in enumerate(self.level_names))
        return (f'{self.__class__.__name__}({sizes}, '
                f'source={self.hierarchy_source!r})')
