"""Explanation quality as reviewers of prototype networks measure it.

* **Consistency** (Huang et al., ICCV 2023): does a prototype fire on the
  same part in every clip of its node? Its *hit share* is the share of its
  node's clips in which its peak cell holds the part; it is *consistent*
  when the hit share reaches a threshold (0.8 in the paper).
* **Stability** (ibid.): does the peak stay where it is when the input gets
  small pixel noise? The share of (clip, prototype) peaks that stay in the
  same cell, and the share whose part match (on the part or not) stays the
  same.
* **Duplicates**: pairs of prototypes that are the same vector (after
  projection: the same training patch) or nearly so, within one node and
  across nodes.

Each figure comes with its value for a prototype whose peak falls on a
uniformly random cell.
"""
from math import ceil
from typing import Dict, Sequence

import numpy as np
import torch
from scipy.stats import binom
from torch import Tensor

#: Consistency threshold of Huang et al.: the part in >= 80% of the clips.
CONSISTENCY_THRESHOLD = 0.8
#: Cosine similarity at or above which two prototypes count as near
#: duplicates.
NEAR_DUPLICATE_COSINE = 0.99


def consistency(hits: Sequence[np.ndarray],
                chance: Sequence[np.ndarray],
                threshold: float = CONSISTENCY_THRESHOLD) -> Dict:
    """Consistency of a group of prototypes (e.g. one level's).

    Args:
        hits (Sequence[np.ndarray]): Per prototype, (n_p, ) booleans: does
            its peak hold the part in each of its node's clips.
        chance (Sequence[np.ndarray]): Per prototype, (n_p, ) floats: the
            probability that a uniformly random cell holds the part in each
            of those clips.
        threshold (float): Hit share that makes a prototype consistent.

    Returns:
        dict: ``prototypes`` (count), ``consistent`` (share of prototypes
        with hit share >= threshold), ``mean_hit_share``, and the same for
        random peaks: ``random_consistent`` (expected share, from the
        binomial law of the clips' mean chance) and ``random_hit_share``.
    """
    shares = [float(np.mean(h)) for h in hits]
    random_shares = [float(np.mean(c)) for c in chance]
    random_consistent = [
        float(binom.sf(ceil(threshold * len(c)) - 1, len(c), np.mean(c)))
        for c in chance
    ]
    return dict(
        prototypes=len(shares),
        consistent=float(np.mean([s >= threshold for s in shares])),
        mean_hit_share=float(np.mean(shares)),
        random_consistent=float(np.mean(random_consistent)),
        random_hit_share=float(np.mean(random_shares)))


def stability(clean_cells: np.ndarray, noisy_cells: np.ndarray,
              clean_hits: np.ndarray, noisy_hits: np.ndarray, num_cells: int,
              part_chance: np.ndarray) -> Dict:
    """Stability of peaks under pixel noise.

    Args:
        clean_cells (np.ndarray): (M, ) flat peak cell of M (clip,
            prototype) pairs on the clean clips.
        noisy_cells (np.ndarray): (S, M) the same under S noise draws.
        clean_hits (np.ndarray): (M, ) booleans: the clean peak holds the
            part.
        noisy_hits (np.ndarray): (S, M) the same under noise.
        num_cells (int): Cells of the distance map, T' * H' * W'.
        part_chance (np.ndarray): (M, ) probability that a random cell
            holds the part, per pair (its clip's share of part cells).

    Returns:
        dict: ``pairs`` (M), ``draws`` (S), ``peak_unchanged`` (share of
        peaks in the same cell), ``part_match_unchanged`` (share whose hit
        stays the same), and for two independent random peaks
        ``random_peak_unchanged`` (1 / num_cells) and
        ``random_part_match_unchanged`` (the mean of q^2 + (1 - q)^2).
    """
    q = np.asarray(part_chance, dtype=np.float64)
    return dict(
        pairs=int(clean_cells.shape[0]),
        draws=int(noisy_cells.shape[0]),
        peak_unchanged=float(np.mean(noisy_cells == clean_cells[None])),
        part_match_unchanged=float(np.mean(noisy_hits == clean_hits[None])),
        random_peak_unchanged=1.0 / num_cells,
        random_part_match_unchanged=float(np.mean(q * q + (1 - q) * (1 - q))))


def duplicate_pairs(prototypes: Tensor,
                    nodes: Tensor,
                    near_cosine: float = NEAR_DUPLICATE_COSINE) -> Dict:
    """Pairs of identical and of nearly identical prototypes.

    Args:
        prototypes (Tensor): (P, C, t, h, w) prototype vectors.
        nodes (Tensor): (P, ) node of every prototype.
        near_cosine (float): Cosine similarity of the flattened vectors at
            or above which a pair is a near duplicate.

    Returns:
        dict: ``exact_within_node``, ``exact_across_nodes``,
        ``near_within_node``, ``near_across_nodes``: lists of
        ``[p, q]`` pairs (p < q); exact pairs are bit-identical vectors,
        near pairs the other pairs at or above ``near_cosine``; and
        ``prototypes_with_exact_duplicate`` (count).
    """
    flat = prototypes.detach().flatten(1).double().cpu()
    unit = torch.nn.functional.normalize(flat, dim=1)
    cosine = unit @ unit.t()
    nodes = nodes.cpu()
    out = dict(
        exact_within_node=[],
        exact_across_nodes=[],
        near_within_node=[],
        near_across_nodes=[])
    with_duplicate = set()
    num = flat.shape[0]
    for p in range(num):
        for q in range(p + 1, num):
            same_node = bool(nodes[p] == nodes[q])
            if torch.equal(flat[p], flat[q]):
                kind = 'exact'
                with_duplicate.update((p, q))
            elif cosine[p, q] >= near_cosine:
                kind = 'near'
            else:
                continue
            where = 'within_node' if same_node else 'across_nodes'
            out[f'{kind}_{where}'].append([p, q])
    out['prototypes_with_exact_duplicate'] = len(with_duplicate)
    return out


def attach_quality(data: Dict, quality: Dict, source: str = '') -> int:
    """Add each reported prototype's numbers from a ``quality.json`` (made
    by ``tools/explain_quality.py``) to an explanation's rows, as
    ``row['quality']``.

    Args:
        data (dict): ``Explanation.data``.
        quality (dict): The loaded ``quality.json``.
        source (str): Where it was read from, for the report.

    Returns:
        int: Number of rows that got numbers.
    """
    by_prototype = {r['prototype']: r for r in quality['prototypes']}
    settings = quality['settings']
    count = 0
    for entry in data['levels'] + data['alternatives']:
        for row in entry['prototypes']:
            numbers = by_prototype.get(row['prototype'])
            if numbers is not None:
                row['quality'] = dict(numbers)
                count += 1
    data['quality'] = dict(settings, source=source)
    return count
