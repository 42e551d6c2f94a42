import csv
import os.path as osp
import random

import pytest
import torch

from hprotopnet_mm.hierarchy import (HIERARCHY_FILES_DIR, ClassHierarchy,
                                     HierarchyError)

UCF_HIERARCHY = osp.join(HIERARCHY_FILES_DIR, 'ucf101_hierarchy.csv')
UCF_LABEL_MAP = osp.join(HIERARCHY_FILES_DIR, 'ucf101_label_map.txt')
ANET_HIERARCHY = osp.join(HIERARCHY_FILES_DIR, 'activitynet_hierarchy.csv')
ANET_LABEL_MAP = osp.join(HIERARCHY_FILES_DIR, 'activitynet_label_map.txt')
# the raw published table, in the data folder laid beside the repository
UCF_SOURCE = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'shared',
    'data', 'hierarchies', 'ucf101_hierarchy_source.csv')

# A small tree; the label map order differs from the row order on purpose.
TOY_TABLE = """# toy hierarchy
leaf,parent,grandparent
a1,A,X
b1,B,X

a2,A,X
c1,C,Y
b2,B,X
c2,C,Y
d1,D,Y
"""
TOY_LABELS = ['c1', 'a1', 'b1', 'a2', 'b2', 'c2', 'd1']


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding='utf-8')
    return str(path)


def load_toy(tmp_path, table=TOY_TABLE, labels=TOY_LABELS):
    return ClassHierarchy.from_files(
        write(tmp_path, 'tree.csv', table),
        write(tmp_path, 'labels.txt', '\n'.join(labels) + '\n'))


def raises_hierarchy_error(tmp_path, table, labels=TOY_LABELS):
    """Load a broken table; return the message of the HierarchyError."""
    with pytest.raises(HierarchyError) as info:
        load_toy(tmp_path, table, labels)
    return str(info.value)


# ----------------------------------------------------------------------
# node ids and lookups
# ----------------------------------------------------------------------
def test_node_ids_follow_label_map_then_first_appearance(tmp_path):
    h = load_toy(tmp_path)
    assert h.level_names == ('leaf', 'parent', 'grandparent')
    assert (h.num_levels, h.num_leaves, h.num_nodes) == (3, 7, 13)
    # leaves in label order, then parents and grandparents in order of
    # first appearance when scanning the leaves in label order
    assert h.node_names == TOY_LABELS + ['C', 'A', 'B', 'D', 'Y', 'X']
    assert h.node_levels.tolist() == [0] * 7 + [1] * 4 + [2] * 2
    assert h.level_node_ids(0).tolist() == list(range(7))
    assert h.level_node_ids(1).tolist() == [7, 8, 9, 10]
    assert h.level_node_ids(2).tolist() == [11, 12]
    name = h.node_names
    parents = [name[p] if p >= 0 else None for p in h.parent.tolist()]
    assert parents == [
        'C', 'A', 'B', 'A', 'B', 'C', 'D', 'Y', 'X', 'X', 'Y', None, None
    ]


def test_node_ids_do_not_depend_on_row_order(tmp_path):
    lines = TOY_TABLE.strip().split('\n')
    rows = [line for line in lines[2:] if line]
    random.Random(0).shuffle(rows)
    shuffled = '\n'.join(lines[1:2] + rows) + '\n'
    a = load_toy(tmp_path)
    b = load_toy(tmp_path, shuffled)
    assert a.node_names == b.node_names
    assert torch.equal(a.parent, b.parent)
    assert torch.equal(a.leaf_ancestors, b.leaf_ancestors)


def test_lookup_tensors(tmp_path):
    h = load_toy(tmp_path)
    c1, a1, a2, b1, d1 = (h.node_id(n) for n in ('c1', 'a1', 'a2', 'b1', 'd1'))
    assert h.leaf_ancestors[a1].tolist() == [
        a1, h.node_id('A'), h.node_id('X')
    ]
    assert h.ancestor_path(c1) == [c1, h.node_id('C'), h.node_id('Y')]
    labels = torch.tensor([a1, c1])
    assert h.level_labels(labels).tolist() == [
        h.ancestor_path(a1), h.ancestor_path(c1)
    ]
    assert h.leaves_under('X') == sorted(
        h.node_id(n) for n in ('a1', 'a2', 'b1', 'b2'))
    assert h.leaves_under(h.node_id('A')) == [a1, a2]
    assert h.leaves_under('a1') == [a1]
    assert h.leaf_membership.shape == (13, 7)
    assert h.leaf_membership.sum(
        dim=1).tolist() == [1] * 7 + [2, 2, 2, 1, 3, 4]
    assert h.hop_distance[a1, a1] == 0
    assert h.hop_distance[a1, a2] == 2  # siblings
    assert h.hop_distance[a1, b1] == 4  # cousins
    assert h.hop_distance[a1, c1] == 6  # joined at the implicit root
    assert h.hop_distance[c1, d1] == 4
    assert torch.equal(h.hop_distance, h.hop_distance.T)


def test_lookup_argument_errors(tmp_path):
    h = load_toy(tmp_path)
    with pytest.raises(HierarchyError, match="no node named 'Z'"):
        h.node_id('Z')
    with pytest.raises(HierarchyError, match="'A' is at level 'parent'"):
        h.node_id('A', level=0)
    assert h.node_id('A', level=1) == 8
    with pytest.raises(ValueError, match=r'\[0, 7\)'):
        h.level_labels(torch.tensor([7]))
    with pytest.raises(TypeError):
        h.level_labels(torch.tensor([0.0]))
    with pytest.raises(IndexError):
        h.level_node_ids(3)
    with pytest.raises(IndexError):
        h.ancestor_path(7)


def test_depth_two_and_four(tmp_path):
    two = load_toy(tmp_path, 'leaf,group\na,G\nb,G\nc,H\n', ['a', 'b', 'c'])
    assert two.num_levels == 2 and two.num_nodes == 5
    assert two.hop_distance.tolist() == [[0, 2, 4], [2, 0, 4], [4, 4, 0]]
    four = load_toy(tmp_path,
                    'leaf,l1,l2,l3\na,P,Q,R\nb,P,Q,R\nc,S,T,R\nd,U,V,W\n',
                    ['a', 'b', 'c', 'd'])
    assert four.num_levels == 4 and four.num_nodes == 4 + 3 + 3 + 2
    assert four.hop_distance[0].tolist() == [0, 2, 6, 8]
    assert four.leaf_ancestors.shape == (4, 4)


def test_crlf_and_quoted_cells(tmp_path):
    table = 'leaf,parent\r\n"a, with comma",P\r\nb,P\r\n'
    h = load_toy(tmp_path, table, ['a, with comma', 'b'])
    assert h.node_names == ['a, with comma', 'b', 'P']


def test_constructor_from_rows():
    h = ClassHierarchy(('leaf', 'parent'), [('x', 'P'), ('y', 'Q')],
                       ['y', 'x'])
    assert h.node_names == ['y', 'x', 'Q', 'P']
    with pytest.raises(HierarchyError, match="<rows>: duplicate leaf 'x'"):
        ClassHierarchy(('leaf', 'parent'), [('x', 'P'), ('x', 'Q')], ['x'])


# ----------------------------------------------------------------------
# one test per malformed input
# ----------------------------------------------------------------------
def test_error_label_map_class_missing_from_tree(tmp_path):
    msg = raises_hierarchy_error(tmp_path, TOY_TABLE, TOY_LABELS + ['e1'])
    assert 'labels.txt, line 8' in msg and "class 'e1'" in msg
    assert 'not a leaf of the hierarchy' in msg


def test_error_tree_leaf_not_in_label_map(tmp_path):
    msg = raises_hierarchy_error(tmp_path, TOY_TABLE, TOY_LABELS[:-1])
    assert 'tree.csv, line 10' in msg and "leaf 'd1'" in msg
    assert 'not a class of the label map' in msg


def test_error_duplicate_leaf(tmp_path):
    msg = raises_hierarchy_error(tmp_path, TOY_TABLE + 'a1,B,X\n')
    assert 'tree.csv, line 11' in msg and "duplicate leaf 'a1'" in msg
    assert 'line 3' in msg


def test_error_node_with_two_parents(tmp_path):
    # parent A under grandparent X in one row and under Y in another
    msg = raises_hierarchy_error(tmp_path,
                                 TOY_TABLE.replace('a2,A,X', 'a2,A,Y'))
    assert 'tree.csv, line 6' in msg
    assert "node 'A' has two parents: 'Y' here and 'X'" in msg


def test_error_cycle_name_on_one_path(tmp_path):
    msg = raises_hierarchy_error(tmp_path,
                                 TOY_TABLE.replace('d1,D,Y', 'd1,D,D'))
    assert 'tree.csv, line 10' in msg
    assert "cycle: 'D' is its own ancestor" in msg


def test_error_cycle_across_rows(tmp_path):
    # A is the parent of X in one row and X the parent of A in another
    table = 'leaf,parent,grandparent\na1,A,X\nd1,X,A\n'
    msg = raises_hierarchy_error(tmp_path, table, ['a1', 'd1'])
    assert 'tree.csv, line 3' in msg
    assert "node 'X' is at level 'parent' here but at level 'grandparent'" \
        in msg


def test_error_ragged_depth(tmp_path):
    msg = raises_hierarchy_error(tmp_path,
                                 TOY_TABLE.replace('d1,D,Y', 'd1,D,'))
    assert 'tree.csv, line 10' in msg and 'ragged depth' in msg
    assert "'grandparent'" in msg and 'd1' in msg


def test_error_empty_file(tmp_path):
    msg = raises_hierarchy_error(tmp_path, '# only a comment\n\n')
    assert 'tree.csv' in msg and 'empty' in msg


def test_error_header_only(tmp_path):
    msg = raises_hierarchy_error(tmp_path, 'leaf,parent,grandparent\n')
    assert 'tree.csv' in msg and 'header but no rows' in msg


def test_error_wrong_column_count(tmp_path):
    msg = raises_hierarchy_error(tmp_path,
                                 TOY_TABLE.replace('d1,D,Y', 'd1,D,Y,Z'))
    assert 'tree.csv, line 10' in msg and 'wrong column count' in msg
    assert '4 cells' in msg


def test_error_bad_header(tmp_path):
    msg = raises_hierarchy_error(
        tmp_path, TOY_TABLE.replace('leaf,parent', 'class,parent'))
    assert 'tree.csv, line 2' in msg and 'bad header' in msg
    assert "first column must be 'leaf'" in msg


def test_error_header_with_one_column(tmp_path):
    msg = raises_hierarchy_error(tmp_path, 'leaf\na\n', ['a'])
    assert 'tree.csv, line 1' in msg and 'at least two columns' in msg


def test_error_whitespace_around_name(tmp_path):
    msg = raises_hierarchy_error(tmp_path,
                                 TOY_TABLE.replace('d1,D,Y', 'd1,D ,Y'))
    assert 'tree.csv, line 10' in msg and "'D '" in msg
    assert 'whitespace' in msg


def test_error_label_map_blank_line_inside(tmp_path):
    path = write(tmp_path, 'labels.txt', 'a\n\nb\n')
    with pytest.raises(HierarchyError, match=r'labels.txt, line 2: blank'):
        ClassHierarchy.read_label_map(path)


def test_error_label_map_duplicate_class(tmp_path):
    path = write(tmp_path, 'labels.txt', 'a\nb\na\n')
    with pytest.raises(
            HierarchyError,
            match=r"labels.txt, line 3: class 'a' is listed twice"):
        ClassHierarchy.read_label_map(path)


def test_error_label_map_empty(tmp_path):
    path = write(tmp_path, 'labels.txt', '\n')
    with pytest.raises(HierarchyError, match='label map is empty'):
        ClassHierarchy.read_label_map(path)


# ----------------------------------------------------------------------
# shipped hierarchies
# ----------------------------------------------------------------------
@pytest.mark.parametrize('hierarchy_file, label_map_file, sizes', [
    (UCF_HIERARCHY, UCF_LABEL_MAP, (101, 20, 5)),
    (ANET_HIERARCHY, ANET_LABEL_MAP, (200, 38, 6)),
])
def test_shipped_hierarchy(hierarchy_file, label_map_file, sizes):
    classes = ClassHierarchy.read_label_map(label_map_file)
    h = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    assert len(classes) == len(set(classes)) == sizes[0]
    with open(hierarchy_file, newline='') as f:
        leaves = [row[0] for row in csv.reader(f)][1:]
    assert sorted(leaves) == sorted(classes)  # each class exactly once
    assert h.node_names[:sizes[0]] == classes
    assert tuple(len(h.level_node_ids(level)) for level in range(3)) == sizes
    assert h.level_names == ('leaf', 'parent', 'grandparent')


def test_ucf101_renamed_classes_and_hops():
    h = ClassHierarchy.from_files(UCF_HIERARCHY, UCF_LABEL_MAP)
    # the source table names these six leaves differently; their place in
    # the tree (parent, grandparent) as published:
    expected = {
        'BaseballPitch': ('Ball Sports', 'Sports'),  # "Basketball Pitch"
        'Basketball': ('Ball Sports', 'Sports'),  # "Basketball Shooting"
        'Billiards': ('Ball Sports', 'Sports'),  # "Billiards Shot"
        'Mixing': ('Working', 'Human-Object Interaction'),  # "Mixing Batter"
        'SalsaSpin': ('Two persons interaction',
                      'Human-Human Interaction'),  # "Salsa Spins"
        'WalkingWithDog':
        ('Non strenuous', 'Body-Motion Only'),  # "Walking with a dog"
    }
    for leaf, ancestors in expected.items():
        path = h.ancestor_path(h.node_id(leaf, level=0))
        assert tuple(h.node_names[i] for i in path[1:]) == ancestors, leaf
    hop = h.hop_distance
    assert hop[h.node_id('ApplyEyeMakeup'), h.node_id('ApplyLipstick')] == 2
    assert hop[h.node_id('ApplyEyeMakeup'), h.node_id('Archery')] == 6
    assert hop[h.node_id('ApplyEyeMakeup'), h.node_id('Typing')] == 4


@pytest.mark.skipif(
    not osp.exists(UCF_SOURCE), reason='raw source table not available')
def test_ucf101_matches_source_table():
    renamed = {
        'Basketball Pitch': 'BaseballPitch',
        'Basketball Shooting': 'Basketball',
        'Billiards Shot': 'Billiards',
        'Mixing Batter': 'Mixing',
        'Salsa Spins': 'SalsaSpin',
        'Walking with a dog': 'WalkingWithDog',
    }
    h = ClassHierarchy.from_files(UCF_HIERARCHY, UCF_LABEL_MAP)
    by_key = {name.lower(): name for name in h.node_names[:h.num_leaves]}
    with open(UCF_SOURCE, newline='') as f:
        rows = list(csv.reader(f))
    assert len(rows) == 101
    for leaf, parent, grandparent, root in rows:
        assert root == 'Root'
        name = renamed.get(leaf) or by_key[leaf.replace(' ', '').lower()]
        path = h.ancestor_path(h.node_id(name, level=0))
        assert [h.node_names[i] for i in path] == [name, parent, grandparent]
