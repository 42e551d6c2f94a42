"""Derive a class hierarchy and label map from ActivityNet's taxonomy.

    python tools/activitynet_hierarchy.py ANNOTATION.json --out DIR
        [--levels 2] [--reference HIERARCHY.csv LABEL_MAP.txt | --no-compare]

Reads the ``taxonomy`` of the annotation file (``activity_net.v1-3.min.json``)
and writes ``DIR/activitynet_hierarchy.csv`` (the leaf classes and
``--levels`` levels above them, see ``hprotopnet_mm/hierarchy/taxonomy.py``
for how levels are chosen) and ``DIR/activitynet_label_map.txt`` (the
classes in taxonomy order). Then it prints how the tree differs from the
shipped paper tree (or ``--reference``): node counts per level and the
leaves whose ancestors differ. The paper tree stays the configs' default;
to train on the derived one, embed it (the command is printed) and point
the config's ``hierarchy_file``, ``label_map_file`` and ``embedding_file``
at the new files.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from hprotopnet_mm.hierarchy import HIERARCHY_FILES_DIR  # noqa: E402
from hprotopnet_mm.hierarchy import ClassHierarchy, HierarchyError
from hprotopnet_mm.hierarchy.taxonomy import (  # noqa: E402
    compare_hierarchies, read_taxonomy, taxonomy_hierarchy, taxonomy_notes,
    write_hierarchy)

SHIPPED = (osp.join(HIERARCHY_FILES_DIR, 'activitynet_hierarchy.csv'),
           osp.join(HIERARCHY_FILES_DIR, 'activitynet_label_map.txt'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Hierarchy CSV and label map from ActivityNet's taxonomy")
    parser.add_argument('annotation', help='ActivityNet annotation file')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--levels',
        type=int,
        default=2,
        help='levels above the leaves (default 2: parent, grandparent)')
    compare = parser.add_mutually_exclusive_group()
    compare.add_argument(
        '--reference',
        nargs=2,
        metavar=('HIERARCHY', 'LABEL_MAP'),
        default=SHIPPED,
        help='tree to compare with (default: the shipped paper tree)')
    compare.add_argument(
        '--no-compare', action='store_true', help='do not compare')
    args = parser.parse_args(argv)
    if args.levels < 1:
        parser.error('--levels must be >= 1')
    missing = [p for p in args.reference if not osp.isfile(p)]
    if missing and tuple(args.reference) != SHIPPED:
        parser.error(f'--reference: not found: {", ".join(missing)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    taxonomy = read_taxonomy(args.annotation)
    tree = taxonomy_hierarchy(taxonomy, args.levels, args.annotation)
    hierarchy_file = osp.join(args.out, 'activitynet_hierarchy.csv')
    label_map_file = osp.join(args.out, 'activitynet_label_map.txt')
    write_hierarchy(tree, hierarchy_file, label_map_file)
    written = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    print(f'{args.annotation}: taxonomy')
    for note in taxonomy_notes(taxonomy, args.levels):
        print(f'  {note}')
    print(f'wrote {hierarchy_file} and {label_map_file}: {written}')
    if not args.no_compare and all(map(osp.isfile, args.reference)):
        reference = ClassHierarchy.from_files(*args.reference)
        print(f'\ncompared with {args.reference[0]} ({reference}):')
        print('\n'.join(
            compare_hierarchies(written, reference, ('derived', 'reference'))))
    elif not args.no_compare:
        print('\nno comparison: the shipped tree is not installed')
    print('\nto train on it, embed it:\n  python tools/embed_hierarchy.py '
          f'{hierarchy_file} {label_map_file} --dim 300 --out '
          f'{osp.join(args.out, "activitynet_embedding_d300.pth")}')


if __name__ == '__main__':
    try:
        main()
    except HierarchyError as err:
        sys.exit(f'{osp.basename(__file__)}: error: {err}')
