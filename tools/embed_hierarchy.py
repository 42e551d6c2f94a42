"""Embed a class hierarchy in the Poincare ball and save the embedding file.

Example::

    python tools/embed_hierarchy.py \
        hprotopnet_mm/hierarchy/files/ucf101_hierarchy.csv \
        hprotopnet_mm/hierarchy/files/ucf101_label_map.txt \
        --dim 300 --out ucf101_embedding_d300.pth --plot ucf101_disk.png

The training, quality report, file format and plot live in
``hprotopnet_mm.hierarchy``; this script only wires them to the command line.
"""
import argparse
import os.path as osp
import time

import torch
from mmengine.utils import ProgressBar

from hprotopnet_mm.hierarchy import (SEPARATION_LOSSES, ClassHierarchy,
                                     embed_hierarchy, format_quality_report,
                                     plot_poincare_disk, save_embedding)

DTYPES = dict(float32=torch.float32, float64=torch.float64)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Embed a class hierarchy in the Poincare ball')
    parser.add_argument('hierarchy', help='hierarchy CSV file')
    parser.add_argument('label_map', help='label map, one class per line')
    parser.add_argument(
        '--dim', type=int, required=True, help='dimension of the ball')
    parser.add_argument(
        '--out', required=True, help='output embedding file (.pth)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--epochs', type=int, default=200, help='full-batch steps')
    parser.add_argument(
        '--lr', type=float, default=0.3, help='Riemannian Adam lr')
    parser.add_argument(
        '--lambda-sibling',
        type=float,
        default=0.3,
        help='weight of the separation loss')
    parser.add_argument(
        '--separation-loss',
        choices=SEPARATION_LOSSES,
        default='ranking',
        help='the separation loss: ranking = siblings closer than the other '
        'nodes of their level, a softmax ranking at every level (default, '
        'reconstructs the shipped trees best); eq4 = the paper\'s Eq. 4 as '
        'written, the cosine similarities of all pairs of leaves')
    parser.add_argument(
        '--curvature',
        type=float,
        default=0.02,
        help='curvature magnitude c of the ball (radius 1/sqrt(c))')
    parser.add_argument(
        '--init',
        choices=['auto', 'random', 'fan'],
        default='auto',
        help='initial points; auto = fan for --dim 2, random otherwise')
    parser.add_argument(
        '--dtype',
        choices=['auto', 'float32', 'float64'],
        default='auto',
        help='precision; auto = float64 for --dim 2, float32 otherwise')
    parser.add_argument(
        '--plot',
        metavar='PNG',
        help='draw the tree in the Poincare disk (a separate 2-D embedding '
        'with the same settings is trained when --dim is not 2)')
    return parser.parse_args(argv)


def train(hierarchy: ClassHierarchy, args: argparse.Namespace, dim: int):
    """Train with a progress bar.

    Returns:
        tuple: The embedding, wall-clock seconds and CPU seconds of this
        process (the two differ when other processes share the CPU).
    """
    bar = ProgressBar(args.epochs)
    start, start_cpu = time.perf_counter(), time.process_time()
    embedding = embed_hierarchy(
        hierarchy,
        dim,
        curvature=args.curvature,
        epochs=args.epochs,
        lr=args.lr,
        lambda_sibling=args.lambda_sibling,
        separation_loss=args.separation_loss,
        seed=args.seed,
        init=None if args.init == 'auto' else args.init,
        dtype=None if args.dtype == 'auto' else DTYPES[args.dtype],
        callback=lambda epoch, losses: bar.update())
    seconds = (time.perf_counter() - start, time.process_time() - start_cpu)
    print()
    return embedding, seconds


def report(title: str, embedding, seconds: tuple) -> None:
    """Print the quality report and the training time (wall, CPU)."""
    losses = embedding.meta['final_losses']
    print(f'{title}: {embedding.num_nodes} nodes, dim {embedding.dim}, '
          f'curvature {embedding.curvature}, trained in {seconds[0]:.1f} s '
          f'(CPU time {seconds[1]:.1f} s)')
    if losses:
        print(f'final loss {losses["loss"]:.4f} (parent ranking '
              f'{losses["loss_parent"]:.4f}, separation '
              f'({embedding.meta["settings"]["separation_loss"]}) '
              f'{losses["loss_sibling"]:.4f})')
    print(format_quality_report(embedding.meta['quality']))


def main(argv=None) -> None:
    args = parse_args(argv)
    hierarchy = ClassHierarchy.from_files(args.hierarchy, args.label_map)
    print(hierarchy)
    embedding, seconds = train(hierarchy, args, args.dim)
    embedding.meta['hierarchy_file'] = osp.basename(args.hierarchy)
    embedding.meta['label_map_file'] = osp.basename(args.label_map)
    save_embedding(args.out, embedding)
    report(f'saved {args.out}', embedding, seconds)

    if args.plot:
        if args.dim == 2:
            flat = embedding
        else:
            print('training a 2-D embedding for the plot')
            flat, seconds = train(hierarchy, args, 2)
            report('2-D plot embedding', flat, seconds)
        name = osp.splitext(osp.basename(args.hierarchy))[0]
        plot_poincare_disk(
            hierarchy,
            flat.embeddings,
            flat.curvature,
            args.plot,
            title=f'{name}: 2-D Poincare embedding '
            f'(MAP {flat.meta["quality"]["parent_map"]:.3f})')
        print(f'saved {args.plot}')


if __name__ == '__main__':
    main()
