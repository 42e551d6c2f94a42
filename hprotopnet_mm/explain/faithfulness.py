"""Deletion test of explanations: does occluding what a prototype points at
hurt the model more than occluding elsewhere?

For every reported prototype p (of hierarchy node n) the clip is occluded
twice over:

* top: the voxels of p's upsampled activation map (see
  :mod:`.activation_maps`) at or above its 95th percentile;
* random: the same region moved by a random circular shift over time,
  height and width (same shape, exactly the same voxel count), several
  seeded draws.

Occluded voxels are filled in the model's input space (after the data
preprocessor's normalisation) with the clip's per-channel mean
(``fill='mean'``) or with 0 (``fill='zero'``, the preprocessor's mean
colour). The drops of p's similarity and of node n's scores are measured:
its log-probability ``node_log_prob`` (the class score of the decision) and
its unnormalised logit ``node_logit`` (see :mod:`.contributions`). The
faithfulness ratio of a score is ``mean drop (top) / mean drop (random)``,
over the prototypes and draws of one explanation. A ratio above 1 says the
highlighted regions matter more than random regions of the same size. It is
undefined (None) when the mean random drop is not positive.

The log-probability is the score to read for hyperbolic heads: their logits
``-d(h, phi_k)`` share a term that grows with the radius of ``h`` and that
the softmax ignores, so a logit can rise while the class loses probability.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .activation_maps import high_activation_mask

FILL_MODES = ('mean', 'zero')


def random_region_masks(mask: Tensor, num: int,
                        generator: torch.Generator) -> Tensor:
    """Copies of a region moved by random circular shifts.

    Args:
        mask (Tensor): Bool (T, H, W).
        num (int): Number of copies.
        generator (torch.Generator): Source of the shifts.

    Returns:
        Tensor: Bool (num, T, H, W), each with ``mask.sum()`` voxels. A shift
        of zero in every dimension is redrawn unless the mask fills every
        dimension of size one.
    """
    size = mask.shape
    masks = []
    while len(masks) < num:
        shift = [
            int(torch.randint(s, (1, ), generator=generator)) for s in size
        ]
        if not any(shift) and any(s > 1 for s in size):
            continue
        masks.append(torch.roll(mask, shifts=shift, dims=(0, 1, 2)))
    return torch.stack(masks)


def occlude(clip: Tensor, masks: Tensor, fill: str = 'mean') -> Tensor:
    """Occluded copies of a clip.

    Args:
        clip (Tensor): Model input (C, T, H, W).
        masks (Tensor): Bool (M, T, H, W), True = occlude.
        fill (str): 'mean' (the clip's per-channel mean) or 'zero'.

    Returns:
        Tensor: (M, C, T, H, W).
    """
    if fill not in FILL_MODES:
        raise ValueError(f'fill must be one of {FILL_MODES}, got {fill!r}')
    value = clip.mean(dim=(1, 2, 3), keepdim=True) if fill == 'mean' else \
        torch.zeros_like(clip[:, :1, :1, :1])
    masks = masks[:, None].to(clip.device)
    return torch.where(masks, value[None], clip[None])


def mean_drops(rows: Sequence[Dict], name: str) -> Tuple[float, float]:
    """Mean drop of score ``name`` over the top regions of ``rows`` (rows of
    :func:`deletion_faithfulness`) and over all their random regions."""
    top = [row[f'{name}_drop_top'] for row in rows]
    random = [v for row in rows for v in row[f'{name}_drops_random']]
    return sum(top) / len(top), sum(random) / len(random)


def drop_ratio(top: float, random: float) -> Optional[float]:
    """Faithfulness ratio ``top / random`` of two mean drops; None unless
    the random drop is positive."""
    return top / random if random > 0 else None


def deletion_faithfulness(score_fn: Callable[[Tensor],
                                             Tuple[Tensor, Dict[str, Tensor]]],
                          clip: Tensor,
                          targets: Sequence[Tuple[int, int]],
                          activations: Tensor,
                          percentile: float = 95,
                          num_random: int = 5,
                          seed: int = 0,
                          fill: str = 'mean',
                          batch_size: int = 8) -> Dict:
    """Deletion faithfulness of the prototypes of one explanation.

    Args:
        score_fn (Callable): Clips (M, C, T, H, W) -> similarities (M, P)
            and a dict of node scores, name -> (M, N), e.g.
            ``node_log_prob`` and ``node_logit``.
        clip (Tensor): The explained clip, model input (C, T, H, W).
        targets (Sequence[tuple[int, int]]): (prototype, node) pairs.
        activations (Tensor): Upsampled activation map of every target,
            (R, T, H, W), R = len(targets).
        percentile (float): Percentile that delimits the top region.
        num_random (int): Random regions per target.
        seed (int): Seed of the random regions.
        fill (str): See :func:`occlude`.
        batch_size (int): Clips per forward pass.

    Returns:
        dict: ``scores``: ``'similarity'`` (of the target's prototype)
        followed by the node score names. ``prototypes``: per target its
        ``prototype``, ``node``, ``voxels`` and, for every score S,
        ``S_drop_top`` and ``S_drops_random``. For every score the means
        ``S_drop_top`` and ``S_drop_random`` and the ratio ``S_ratio``
        (None where undefined); and the settings.
    """
    if len(targets) != activations.shape[0]:
        raise ValueError(f'{len(targets)} targets but '
                         f'{activations.shape[0]} activation maps')
    if activations.shape[1:] != clip.shape[1:]:
        raise ValueError(f'activation maps {tuple(activations.shape[1:])} do '
                         f'not match the clip {tuple(clip.shape[1:])}')
    if len(targets) == 0:
        raise ValueError('the explanation reports no prototype to occlude')
    if num_random < 1:
        raise ValueError(f'num_random must be >= 1, got {num_random}')
    generator = torch.Generator().manual_seed(seed)
    masks = []
    for activation in activations:
        top = high_activation_mask(activation, percentile)
        masks.append(
            torch.cat(
                [top[None],
                 random_region_masks(top, num_random, generator)]))
    masks = torch.cat(masks)  # (R * (1 + num_random), T, H, W)
    with torch.no_grad():
        base = _flat_scores(score_fn(clip[None]))
        occluded = [
            _flat_scores(
                score_fn(occlude(clip, masks[start:start + batch_size], fill)))
            for start in range(0, masks.shape[0], batch_size)
        ]
    names = list(base)
    # per score: (R, 1 + num_random, P or N)
    scores = {
        name:
        torch.cat([o[name]
                   for o in occluded]).view(len(targets), 1 + num_random, -1)
        for name in names
    }
    rows: List[Dict] = []
    for r, (prototype, node) in enumerate(targets):
        row = dict(
            prototype=int(prototype),
            node=int(node),
            voxels=int(masks[r * (1 + num_random)].sum()))
        for name in names:
            index = prototype if name == 'similarity' else node
            drop = (base[name][0, index] - scores[name][r, :, index]).tolist()
            row[f'{name}_drop_top'] = drop[0]
            row[f'{name}_drops_random'] = drop[1:]
        rows.append(row)

    summary: Dict = dict(scores=names)
    for name in names:
        top, random = mean_drops(rows, name)
        summary[f'{name}_drop_top'] = top
        summary[f'{name}_drop_random'] = random
        summary[f'{name}_ratio'] = drop_ratio(top, random)
    return dict(
        summary,
        prototypes=rows,
        percentile=percentile,
        num_random=num_random,
        seed=seed,
        fill=fill,
        total_voxels=int(clip[0].numel()))


def _flat_scores(scores: Tuple[Tensor, Dict[str, Tensor]]) -> Dict:
    """``score_fn``'s output as one dict, similarities first."""
    similarities, node_scores = scores
    if 'similarity' in node_scores:
        raise ValueError('"similarity" is reserved for the prototype '
                         'similarities; rename that node score')
    return dict(similarity=similarities, **node_scores)
