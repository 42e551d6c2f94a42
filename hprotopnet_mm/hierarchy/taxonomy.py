"""A fixed-depth class hierarchy from a taxonomy of nodes with parents.

ActivityNet's annotation file holds a ``taxonomy``: a list of nodes
``{"nodeId", "nodeName", "parentId", "parentName"}`` with one root (its
``parentId`` is null); the classes are the nodes without children. Its
leaves lie at different depths, so a tree of fixed depth is a choice;
:func:`taxonomy_hierarchy` makes it so:

* level 1 (``parent``) is each leaf's own parent in the taxonomy;
* the top level is the leaf's ancestor just below the root;
* with more than two levels, level ``k`` (1 < k < top) is the ancestor
  ``levels - k + 1`` steps below the root.

Ancestors in between are skipped. A leaf with fewer ancestors below the root
than ``levels`` is an error naming it. Nodes are linked by ``parentId``
(``parentName`` is not needed); names lose surrounding whitespace (the
official file has some), and two nodes left with one name are an error.
The classes are the leaves in the order the taxonomy lists them, which for
ActivityNet v1.3 is MMAction2's label order (the shipped label map).
:func:`compare_hierarchies` says how two trees over the same classes differ.
"""
import csv
import json
import os
import os.path as osp
from collections import Counter
from typing import List, Sequence, Tuple

from .class_hierarchy import ClassHierarchy, HierarchyError


def level_names(levels: int) -> List[str]:
    """``['leaf', 'parent', 'grandparent', 'great-grandparent', ...]`` for
    ``levels`` levels above the leaves."""
    if levels < 1:
        raise ValueError(f'levels must be >= 1, got {levels}')
    names = ['leaf', 'parent']
    for level in range(2, levels + 1):
        names.append('great-' * (level - 2) + 'grandparent')
    return names


def read_taxonomy(path: str) -> List[dict]:
    """The ``taxonomy`` list of an ActivityNet annotation file."""
    try:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
    except json.JSONDecodeError as err:
        raise HierarchyError(f'{path}: not a JSON file ({err})') from err
    taxonomy = content.get('taxonomy') if isinstance(content, dict) else None
    if not isinstance(taxonomy, list) or not taxonomy:
        raise HierarchyError(f'{path}: no "taxonomy" list of nodes')
    return taxonomy


def _parse(taxonomy: Sequence[dict], source: str) -> Tuple[dict, list]:
    """Check the nodes; return the names by id and, per leaf in taxonomy
    order, ``[leaf, parent, ..., node below the root]`` (ids)."""
    names, parents, roots = {}, {}, []
    for index, node in enumerate(taxonomy):
        where = f'{source}: taxonomy node {index}'
        if not isinstance(node, dict) or not {
                'nodeId', 'nodeName', 'parentId'
        } <= set(node):
            raise HierarchyError(f'{where}: needs nodeId, nodeName and '
                                 f'parentId, got {node!r}')
        node_id, name = node['nodeId'], node['nodeName']
        if node_id in names:
            raise HierarchyError(f'{where}: nodeId {node_id} is used twice')
        if not isinstance(name, str) or not name.strip() or '\n' in name:
            raise HierarchyError(f'{where}: bad nodeName {name!r}')
        names[node_id] = name.strip()
        parents[node_id] = node['parentId']
        if node['parentId'] is None:
            roots.append(node_id)
    if len(roots) != 1:
        raise HierarchyError(f'{source}: the taxonomy needs one root (a node '
                             f'with parentId null), found {len(roots)}')
    for node_id, parent in parents.items():
        if parent is not None and parent not in names:
            raise HierarchyError(
                f'{source}: node {node_id} {names[node_id]!r} has parentId '
                f'{parent}, which is no node of the taxonomy')
    has_child = set(parents.values())
    paths = []
    for leaf in names:
        if leaf in has_child or leaf == roots[0]:
            continue
        path = [leaf]
        while parents[path[-1]] != roots[0]:
            if parents[path[-1]] in path:
                raise HierarchyError(
                    f'{source}: the taxonomy has a cycle through node '
                    f'{path[-1]} {names[path[-1]]!r}')
            path.append(parents[path[-1]])
        paths.append(path)
    return names, paths


def taxonomy_hierarchy(taxonomy: Sequence[dict],
                       levels: int = 2,
                       source: str = '<taxonomy>') -> ClassHierarchy:
    """A tree of ``levels`` levels above the leaves of a taxonomy (module
    doc).

    Args:
        taxonomy (Sequence[dict]): The nodes.
        levels (int): Levels above the leaves. Defaults to 2 (parent and
            grandparent, as in the paper).
        source (str): Names the taxonomy in messages and in the result's
            ``hierarchy_source``.

    Returns:
        ClassHierarchy: The validated tree; its classes are the leaves in
        taxonomy order.

    Raises:
        HierarchyError: Naming the node or leaf at fault.
    """
    names, paths = _parse(taxonomy, source)
    rows, owner = [], {}
    for path in paths:
        if len(path) - 1 < levels:
            chain = ' < '.join(repr(names[i]) for i in path)
            raise HierarchyError(
                f'{source}: leaf {names[path[0]]!r} has {len(path) - 1} '
                f'ancestor(s) below the root ({chain}), fewer than the '
                f'{levels} levels asked for; choose fewer levels')
        kept = path[:2] + path[len(path) - levels + 1:]
        for node_id in kept:
            first = owner.setdefault(names[node_id], node_id)
            if first != node_id:
                raise HierarchyError(
                    f'{source}: nodes {first} and {node_id} are both named '
                    f'{names[node_id]!r} (after removing surrounding spaces)')
        rows.append([names[i] for i in kept])
    return ClassHierarchy(
        level_names(levels),
        rows, [row[0] for row in rows],
        hierarchy_source=source,
        label_map_source=source)


def taxonomy_notes(taxonomy: Sequence[dict], levels: int) -> List[str]:
    """What deriving the tree does (for the tool's report): leaf depths,
    ancestors skipped, names written without surrounding whitespace."""
    names, paths = _parse(taxonomy, '<taxonomy>')
    depths = Counter(len(path) for path in paths)
    skipped = sum(max(len(path) - 1 - levels, 0) for path in paths)
    notes = [
        f'{len(names)} nodes, {len(paths)} leaves; leaves per depth below '
        'the root: ' + ', '.join(f'{n} at depth {d}'
                                 for d, n in sorted(depths.items())),
        f'ancestors skipped between a parent and the level above it: '
        f'{skipped}'
    ]
    for node in taxonomy:
        if node['nodeName'] != node['nodeName'].strip():
            notes.append(f'name {node["nodeName"]!r} (node {node["nodeId"]}) '
                         'written without its surrounding whitespace')
    return notes


def write_hierarchy(hierarchy: ClassHierarchy, hierarchy_file: str,
                    label_map_file: str) -> None:
    """Write a tree as a hierarchy CSV (header = level names) and its label
    map, in the formats :meth:`ClassHierarchy.from_files` reads."""
    for path in (hierarchy_file, label_map_file):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    names = hierarchy.node_names
    with open(hierarchy_file, 'w', encoding='utf-8', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(hierarchy.level_names)
        for leaf in range(hierarchy.num_leaves):
            writer.writerow([names[i] for i in hierarchy.ancestor_path(leaf)])
    with open(label_map_file, 'w', encoding='utf-8', newline='\n') as f:
        f.writelines(name + '\n' for name in names[:hierarchy.num_leaves])


def compare_hierarchies(
    tree: ClassHierarchy,
    reference: ClassHierarchy,
    names: Tuple[str, str] = ('derived', 'reference')
) -> List[str]:
    """How two trees differ, as report lines: classes in one only, whether
    the label orders agree, node counts per level, and for every level
    both have, the leaves whose ancestor there differs.

    Args:
        tree (ClassHierarchy): One tree.
        reference (ClassHierarchy): The other.
        names (tuple[str, str]): What to call them.
    """
    mine, theirs = names
    leaves_a = tree.node_names[:tree.num_leaves]
    leaves_b = reference.node_names[:reference.num_leaves]
    lines = []
    for a, b, name in ((leaves_a, leaves_b, mine), (leaves_b, leaves_a,
                                                    theirs)):
        only = [leaf for leaf in a if leaf not in set(b)]
        if only:
            more = f', ... and {len(only) - 20} more' if len(only) > 20 else ''
            lines.append(f'classes only in the {name} tree ({len(only)}): ' +
                         ', '.join(map(repr, only[:20])) + more)
    if leaves_a == leaves_b:
        lines.append('label maps: the same classes in the same order')
    elif set(leaves_a) == set(leaves_b):
        lines.append('label maps: the same classes in another order (labels '
                     'differ: do not mix their files)')
    width = max(len(n) for n in tree.level_names + reference.level_names)
    lines.append(f'{"level".ljust(width)}  {mine:>8}  {theirs:>8}')
    for level in range(max(tree.num_levels, reference.num_levels)):
        counts = [
            str(len(t.level_node_ids(level))) if level < t.num_levels else '-'
            for t in (tree, reference)
        ]
        name = (tree
                if level < tree.num_levels else reference).level_names[level]
        lines.append(f'{name.ljust(width)}  {counts[0]:>8}  {counts[1]:>8}')
    common = [leaf for leaf in leaves_a if leaf in set(leaves_b)]
    for level in range(1, min(tree.num_levels, reference.num_levels)):
        level_name = tree.level_names[level]
        differ = []
        for leaf in common:
            a = tree.node_names[tree.ancestor_path(tree.node_id(leaf))[level]]
            b = reference.node_names[reference.ancestor_path(
                reference.node_id(leaf))[level]]
            if a != b:
                differ.append(f'  {leaf}: {a!r} ({mine}), {b!r} ({theirs})')
        lines.append(f'leaves whose {level_name} differs: {len(differ)} of '
                     f'{len(common)}')
        lines.extend(differ)
    return lines
