"""Explanation quality of a prototype network on the toy dataset, whose
object positions are known: consistency, stability and duplicates (see
``hprotopnet_mm/explain/quality.py``).

For every prototype of every node on a clip's true class path (all clips
of the config's test pipeline, for every listed video):

* its peak cell holds the *part* of its level or not: the moving object for
  the leaf and parent levels (the object tells the parents apart, its
  motion the leaves; a flat model's classes too), the background for the
  levels named by ``--background-levels`` (the scene tells the
  grandparents apart);
* consistency: the share of its node's clips where it does (hit share),
  consistent at ``--threshold`` or more;
* stability: the same peaks under Gaussian pixel noise of ``--noise-sigma``
  (0-255 scale; the noisy pixels are clipped to that range), over
  ``--noise-seeds`` draws;
* duplicates: identical and nearly identical prototype vectors.

Prints a table per level beside the values of a random peak, and writes
``<out>/quality.json`` with the per-prototype numbers, which
``tools/explain.py --quality`` shows next to each prototype of a report::

    python tools/explain_quality.py CONFIG CHECKPOINT
        [--split-list data/toy/test_list.txt] [--noise-sigma 8]
        [--noise-seeds 3] [--threshold 0.8] [--out DIR] [...]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from toy_pointing import write_results  # noqa: E402
from toy_pointing import build_parser, decode, load_split  # noqa: E402

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.engine.projection import nearest_cells  # noqa: E402
from hprotopnet_mm.explain.quality import CONSISTENCY_THRESHOLD  # noqa: E402
from hprotopnet_mm.explain.quality import (consistency, duplicate_pairs,
                                           stability)


def parse_args(argv=None):
    parser = build_parser('Consistency, stability and duplicates of the '
                          'prototypes on the toy dataset')
    parser.add_argument(
        '--threshold',
        type=float,
        default=CONSISTENCY_THRESHOLD,
        help='hit share that makes a prototype consistent')
    parser.add_argument(
        '--noise-sigma',
        type=float,
        default=8.0,
        help='std of the Gaussian pixel noise (0-255 scale)')
    parser.add_argument(
        '--noise-seeds', type=int, default=3, help='noise draws per clip')
    parser.add_argument(
        '--background-levels',
        nargs='*',
        default=['grandparent'],
        help='levels whose part is the background, not the object')
    return parser.parse_args(argv)


def noisy_inputs(model, raw, inputs, sigma, seed):
    """Model inputs of the clips with Gaussian noise added to the pixels."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(raw.shape, generator=generator) * sigma
    delta = (raw + noise).clamp(0, 255) - raw
    std = model.data_preprocessor.std.cpu()
    return inputs + (delta / std).to(inputs.device)


def peak_hits(distance_maps, prototypes, part):
    """Flat peak cells (V, n) of the prototypes in every clip, and whether
    they hold the part, from ``part`` (V, n, cells)."""
    cells = torch.stack([
        nearest_cells(maps)[1][prototypes] for maps in distance_maps
    ]).cpu().numpy()
    return cells, np.take_along_axis(part, cells[..., None], 2)[..., 0]


def measure_video(explainer, path, label, args, seed):
    """Per (clip, prototype) pair of one video: the prototype, its clean
    peak and hit, the part's chance, and the peaks and hits under noise."""
    raw, inputs, out, holds = decode(explainer, path, label, args)
    protos, on_object = [], []
    for node in explainer.hierarchy.ancestor_path(label):
        mine = explainer.top_prototypes(node, out['similarities'][0],
                                        explainer.head.num_prototypes)
        protos += mine
        on_object += [
            explainer.level_name(node) not in args.background_levels
        ] * len(mine)
    flat = holds.reshape(len(holds), 1, -1)
    part = np.where(np.array(on_object)[None, :, None], flat, ~flat)
    cells, hits = peak_hits(out['distance_maps'], protos, part)
    noisy = [
        peak_hits(
            explainer.head_outputs(
                noisy_inputs(explainer.model, raw, inputs, args.noise_sigma,
                             seed + draw))['distance_maps'], protos, part)
        for draw in range(args.noise_seeds)
    ]
    return dict(
        prototype=np.broadcast_to(np.array(protos), cells.shape).ravel(),
        cell=cells.ravel(),
        hit=hits.ravel(),
        chance=part.mean(axis=2).ravel(),
        noisy_cell=np.stack([c.ravel() for c, _ in noisy]),
        noisy_hit=np.stack([h.ravel() for _, h in noisy]),
        num_cells=flat.shape[2])


def main(argv=None):
    args = parse_args(argv)
    if args.noise_sigma < 0 or args.noise_seeds < 1:
        raise ValueError('--noise-sigma must be >= 0 and --noise-seeds >= 1')
    explainer, videos = load_split(args)
    parts = [
        measure_video(explainer, path, label, args, 1000 * index)
        for index, (path, label) in enumerate(videos)
    ]
    pairs = {
        key:
        np.concatenate([p[key] for p in parts],
                       axis=1 if key.startswith('noisy') else 0)
        for key in parts[0] if key != 'num_cells'
    }
    level_of = np.array([
        explainer.level_name(int(explainer.prototype_node[p]))
        for p in pairs['prototype']
    ])
    prototypes, summary = [], {}
    for level in explainer.level_names:
        mine = level_of == level
        if not mine.any():
            continue
        ids = sorted(set(pairs['prototype'][mine].tolist()))
        hits = [pairs['hit'][pairs['prototype'] == p] for p in ids]
        chance = [pairs['chance'][pairs['prototype'] == p] for p in ids]
        summary[level] = dict(
            part='background' if level in args.background_levels else 'object',
            consistency=consistency(hits, chance, args.threshold),
            stability=stability(pairs['cell'][mine], pairs['noisy_cell'][:,
                                                                         mine],
                                pairs['hit'][mine], pairs['noisy_hit'][:,
                                                                       mine],
                                parts[0]['num_cells'], pairs['chance'][mine]))
        for p, hit in zip(ids, hits):
            of_p = pairs['prototype'] == p
            prototypes.append(
                dict(
                    prototype=p,
                    node=int(explainer.prototype_node[p]),
                    level=level,
                    clips=int(len(hit)),
                    hit_share=float(np.mean(hit)),
                    consistent=bool(np.mean(hit) >= args.threshold),
                    peak_unchanged=float(
                        np.mean(pairs['noisy_cell'][:, of_p] == pairs['cell'][
                            None, of_p]))))
    duplicates = duplicate_pairs(explainer.head.prototype_vectors,
                                 explainer.head.prototype_node)
    print_summary(summary, duplicates, args)
    write_results(
        args, 'quality.json',
        dict(
            settings=dict(
                threshold=args.threshold,
                noise_sigma=args.noise_sigma,
                noise_seeds=args.noise_seeds,
                videos=len(videos)),
            summary=summary,
            duplicates=duplicates,
            prototypes=sorted(prototypes, key=lambda r: r['prototype'])))
    return summary, duplicates


def print_summary(summary, duplicates, args):
    print(f'{"level":<12}{"part":<11}{"protos":>7}{"consistent":>11}'
          f'{"(random)":>9}{"hit share":>10}{"(random)":>9}'
          f'{"peak kept":>10}{"(random)":>9}{"match kept":>11}{"(random)":>9}')
    for level, s in summary.items():
        c, t = s['consistency'], s['stability']
        print(f'{level:<12}{s["part"]:<11}{c["prototypes"]:>7}'
              f'{c["consistent"]:>11.3f}{c["random_consistent"]:>9.3f}'
              f'{c["mean_hit_share"]:>10.3f}{c["random_hit_share"]:>9.3f}'
              f'{t["peak_unchanged"]:>10.3f}{t["random_peak_unchanged"]:>9.3f}'
              f'{t["part_match_unchanged"]:>11.3f}'
              f'{t["random_part_match_unchanged"]:>9.3f}')
    print(f'consistent: hit share >= {args.threshold}; noise sigma '
          f'{args.noise_sigma} over {args.noise_seeds} draws')
    print('duplicate prototype pairs: exact within a node '
          f'{len(duplicates["exact_within_node"])}, across nodes '
          f'{len(duplicates["exact_across_nodes"])}; near (cosine >= 0.99) '
          f'within {len(duplicates["near_within_node"])}, across '
          f'{len(duplicates["near_across_nodes"])}')


if __name__ == '__main__':
    main()
