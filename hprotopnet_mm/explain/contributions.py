"""How much a prototype contributes to the score of a hierarchy node.

The hierarchical head is not linear in the similarities: they pass through
the last layer, ``expmap0`` and geodesic distances (Eq. 6, 9). So the
contribution of prototype p to node n is measured by removing it: the
change of the node's logit when the similarity of p is set to 0 (all other
similarities kept)::

    contribution[p, n] = node_logit_n(s) - node_logit_n(s with s_p = 0)

The logit of a leaf is the head's class logit; the logit of an ancestor
node is the log-sum-exp of the logits of the leaves under it (its
unnormalised log probability, so that ``softmax`` over the leaves summed
under the node gives its probability). For a linear head (ProtoPNet) the
contribution to a class is exactly ``s_p * w[k, p]``. A positive
contribution means the prototype's evidence raises the node's score.
"""
from typing import Callable

import torch
from torch import Tensor

LogitsFn = Callable[[Tensor], Tensor]


def node_logits(leaf_logits: Tensor, membership: Tensor) -> Tensor:
    """Logits of hierarchy nodes from leaf logits.

    Args:
        leaf_logits (Tensor): Shape (B, K).
        membership (Tensor): Bool (N, K), ``[n, k]`` = leaf k is node n or
            lies under it.

    Returns:
        Tensor: Shape (B, N); ``logsumexp`` of the leaf logits under each
        node (a leaf's own logit for leaf nodes).
    """
    masked = leaf_logits[:, None, :].masked_fill(~membership[None].bool(),
                                                 float('-inf'))
    return torch.logsumexp(masked, dim=-1)


def prototype_contributions(similarities: Tensor, logits_fn: LogitsFn,
                            membership: Tensor) -> Tensor:
    """Change of every node logit when one prototype's similarity is 0.

    Args:
        similarities (Tensor): One clip's similarities, shape (P,).
        logits_fn (Callable): Leaf logits (B, K) of similarities (B, P).
        membership (Tensor): Bool (N, K), see :func:`node_logits`.

    Returns:
        Tensor: Shape (P, N), ``[p, n]`` = logit of node n with all
        prototypes minus its logit with prototype p removed.
    """
    num = similarities.shape[0]
    removed = similarities[None].repeat(num, 1)
    removed[torch.arange(num), torch.arange(num)] = 0
    with torch.no_grad():
        full = node_logits(logits_fn(similarities[None]), membership)
        without = node_logits(logits_fn(removed), membership)
    return full - without
