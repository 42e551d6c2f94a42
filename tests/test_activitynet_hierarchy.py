"""tools/activitynet_hierarchy.py: a hierarchy CSV and label map from the
taxonomy of an annotation file in ActivityNet's schema, and how the tree
differs from another one."""
import copy
import importlib.util
import json
import os.path as osp

import pytest

from conftest import REPO_ROOT
from hprotopnet_mm.datasets import SYNTHETIC_TAXONOMY
from hprotopnet_mm.hierarchy import ClassHierarchy, HierarchyError
from hprotopnet_mm.hierarchy.taxonomy import taxonomy_hierarchy

TOOL = osp.join(REPO_ROOT, 'tools', 'activitynet_hierarchy.py')
SPORTS = 'Sports, Exercise, and Recreation'
HOUSEHOLD = 'Household Activities'
# The synthetic taxonomy's leaves (taxonomy order) with their own parent
# and the ancestor below the root.
EXPECTED_ROWS = [
    ['leaf', 'parent', 'grandparent'],
    ['Playing squash', 'Racquet sports', SPORTS],
    ['Tennis serve with ball bouncing', 'Racquet sports', SPORTS],
    ['Kayaking', 'Water sports', SPORTS],
    ['Surfing', 'Water sports', SPORTS],
    ['Mowing the lawn', 'Lawn care', HOUSEHOLD],
    ['Raking leaves', 'Lawn care', HOUSEHOLD],
    [
        'Painting fence', 'Exterior Maintenance, Repair, & Decoration',
        HOUSEHOLD
    ],
]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('activitynet_hierarchy',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_annotation(path, taxonomy):
    path.write_text(json.dumps(dict(taxonomy=taxonomy, database={})))
    return str(path)


def read_csv_rows(path):
    import csv
    with open(path, newline='') as f:
        return list(csv.reader(f))


def test_tree_and_label_map_from_the_taxonomy(tool, tmp_path, capsys):
    ann = write_annotation(tmp_path / 'anet.json', SYNTHETIC_TAXONOMY)
    tool.main([ann, '--out', str(tmp_path / 'out'), '--no-compare'])
    hierarchy = str(tmp_path / 'out' / 'activitynet_hierarchy.csv')
    label_map = str(tmp_path / 'out' / 'activitynet_label_map.txt')
    # names keep their commas (quoted), lose the trailing space
    assert read_csv_rows(hierarchy) == EXPECTED_ROWS
    assert open(label_map).read().splitlines() == [
        row[0] for row in EXPECTED_ROWS[1:]
    ]
    tree = ClassHierarchy.from_files(hierarchy, label_map)
    assert (tree.num_leaves, tree.num_nodes) == (7, 7 + 4 + 2)
    printed = capsys.readouterr().out
    assert '16 nodes, 7 leaves; leaves per depth below the root: 1 at ' \
        'depth 3, 6 at depth 4' in printed
    assert "name 'Racquet sports ' (node 3) written without its " \
        'surrounding whitespace' in printed
    assert 'ClassHierarchy(leaf=7, parent=4, grandparent=2' in printed
    assert f'tools/embed_hierarchy.py {hierarchy} {label_map} --dim 300' \
        in printed


def test_more_levels_take_the_ancestors_below_the_root(tmp_path):
    shallow = [n for n in SYNTHETIC_TAXONOMY if n['nodeId'] not in (8, 16)]
    tree = taxonomy_hierarchy(shallow, levels=3)
    assert tree.level_names == ('leaf', 'parent', 'grandparent',
                                'great-grandparent')
    assert [tree.node_names[i] for i in tree.ancestor_path(0)] == [
        'Playing squash', 'Racquet sports',
        'Participating in Sports, Exercise, or Recreation', SPORTS
    ]
    # with the leaf three levels down, three levels above it do not exist
    with pytest.raises(
            HierarchyError,
            match="leaf 'Painting fence' has 2 ancestor\\(s\\) below the "
            "root .*fewer than the 3 levels asked for"):
        taxonomy_hierarchy(SYNTHETIC_TAXONOMY, levels=3)
    one = taxonomy_hierarchy(SYNTHETIC_TAXONOMY, levels=1)
    assert one.level_names == ('leaf', 'parent')
    assert len(one.level_node_ids(1)) == 4


def test_bad_taxonomies_are_errors_naming_the_node():

    def changed(node_id, **fields):
        taxonomy = copy.deepcopy(SYNTHETIC_TAXONOMY)
        next(n for n in taxonomy if n['nodeId'] == node_id).update(fields)
        return taxonomy

    with pytest.raises(
            HierarchyError,
            match="nodes 3 and 4 are both named 'Racquet sports'"):
        taxonomy_hierarchy(changed(4, nodeName='Racquet sports'))
    with pytest.raises(HierarchyError, match='node 12 .*has parentId 99'):
        taxonomy_hierarchy(changed(12, parentId=99))
    with pytest.raises(HierarchyError, match='needs one root.*found 2'):
        taxonomy_hierarchy(changed(5, parentId=None))
    with pytest.raises(HierarchyError, match='cycle through node'):
        taxonomy_hierarchy(changed(2, parentId=4))
    with pytest.raises(HierarchyError, match='nodeId 3 is used twice'):
        taxonomy_hierarchy(changed(4, nodeId=3))


def test_differences_to_the_reference_tree_are_printed(tool, tmp_path, capsys):
    ann = write_annotation(tmp_path / 'anet.json', SYNTHETIC_TAXONOMY)
    reference = tmp_path / 'paper.csv'
    rows = copy.deepcopy(EXPECTED_ROWS)
    rows[3][1] = 'Boating'  # Kayaking
    rows[7][1:] = ['Exterior maintenance', 'Home']  # Painting fence
    reference.write_text('\n'.join(','.join(f'"{c}"' for c in row)
                                   for row in rows) + '\n')
    labels = tmp_path / 'labels.txt'
    labels.write_text('\n'.join(r[0] for r in rows[1:]) + '\n')
    tool.main([
        ann, '--out',
        str(tmp_path / 'out'), '--reference',
        str(reference),
        str(labels)
    ])
    printed = capsys.readouterr().out
    assert 'label maps: the same classes in the same order' in printed
    table = [' '.join(line.split()) for line in printed.splitlines()]
    assert 'leaf 7 7' in table
    assert 'parent 4 5' in table
    assert 'grandparent 2 3' in table
    assert 'leaves whose parent differs: 2 of 7' in table
    assert "Kayaking: 'Water sports' (derived), 'Boating' (reference)" in table
    assert 'leaves whose grandparent differs: 1 of 7' in table
    assert f"Painting fence: '{HOUSEHOLD}' (derived), 'Home' (reference)" \
        in table

    # by default, against the shipped paper tree
    tool.main([ann, '--out', str(tmp_path / 'out')])
    printed = capsys.readouterr().out
    assert 'activitynet_hierarchy.csv (ClassHierarchy(leaf=200, parent=38, ' \
        'grandparent=6' in printed
    assert 'classes only in the reference tree (193)' in printed
    # the paper tree writes the commas of names as slashes
    assert 'leaves whose parent differs: 4 of 7' in printed
    assert "Surfing: 'Water sports'" not in printed
    assert f"Surfing: '{SPORTS}' (derived), 'Sports/Exercise/and " \
        "Recreation' (reference)" in printed


def test_tool_fails_with_a_one_line_error(tmp_path):
    import subprocess
    import sys
    ann = write_annotation(tmp_path / 'anet.json', SYNTHETIC_TAXONOMY)
    run = subprocess.run(
        [sys.executable, TOOL, ann, '--out',
         str(tmp_path), '--levels', '3'],
        capture_output=True,
        text=True)
    assert run.returncode != 0
    assert 'Traceback' not in run.stderr
    assert "activitynet_hierarchy.py: error: " in run.stderr
    assert "leaf 'Painting fence'" in run.stderr


def test_a_missing_reference_is_an_error(tool, tmp_path, capsys):
    ann = write_annotation(tmp_path / 'anet.json', SYNTHETIC_TAXONOMY)
    with pytest.raises(SystemExit):
        tool.main([
            ann, '--out',
            str(tmp_path / 'out'), '--reference',
            str(tmp_path / 'paper.csv'),
            str(tmp_path / 'labels.txt')
        ])
    assert f'--reference: not found: {tmp_path / "paper.csv"}' in \
        capsys.readouterr().err
