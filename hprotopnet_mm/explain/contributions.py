"""How much a prototype contributes to the score of a hierarchy node.

The hierarchical head is not linear in the similarities: they pass through
the last layer, ``expmap0`` and geodesic distances (Eq. 6, 9). So the
contribution of prototype p to node n is measured by removing it: the
change of the node's score when the similarity of p is set to 0 (all other
similarities kept)::

    contribution[p, n] = score_n(s) - score_n(s with s_p = 0)

Two node scores are used. The *logit* of a leaf is the head's class logit;
the logit of an ancestor node is the log-sum-exp of the logits of the leaves
under it (its unnormalised log probability). The *log-probability* of a node
is its logit minus the log-sum-exp over all leaves: the score the decision
uses. For a linear head (ProtoPNet) the contribution to a class logit is
exactly ``s_p * w[k, p]``. For the hyperbolic heads read the
log-probability: their logits ``-d(h, phi_k)`` share a term that grows with
the radius of ``h`` and that the softmax ignores, so evidence for a class
can lower its logit while it raises its probability. A positive contribution
means the prototype's evidence raises the node's score.
"""
from typing import Callable, Tuple

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


def node_log_probabilities(leaf_logits: Tensor, membership: Tensor) -> Tensor:
    """Log-probabilities of hierarchy nodes from leaf logits.

    Args:
        leaf_logits (Tensor): Shape (B, K).
        membership (Tensor): Bool (N, K), see :func:`node_logits`.

    Returns:
        Tensor: Shape (B, N); the log of the summed softmax probabilities of
        the leaves under each node.
    """
    return node_logits(torch.log_softmax(leaf_logits, dim=-1), membership)


def prototype_contributions(similarities: Tensor, logits_fn: LogitsFn,
                            membership: Tensor) -> Tuple[Tensor, Tensor]:
    """Change of every node's log-probability and logit when one
    prototype's similarity is 0.

    Args:
        similarities (Tensor): One clip's similarities, shape (P,).
        logits_fn (Callable): Leaf logits (B, K) of similarities (B, P).
        membership (Tensor): Bool (N, K), see :func:`node_logits`.

    Returns:
        tuple[Tensor]: Two of shape (P, N), ``[p, n]`` = score of node n
        with all prototypes minus its score with prototype p removed; the
        score is the log-probability (:func:`node_log_probabilities`) in
        the first, the logit (:func:`node_logits`) in the second.
    """
    num = similarities.shape[0]
    removed = similarities[None].repeat(num, 1)
    removed[torch.arange(num), torch.arange(num)] = 0
    with torch.no_grad():
        full = logits_fn(similarities[None])
        without = logits_fn(removed)
    return tuple(
        score(full, membership) - score(without, membership)
        for score in (node_log_probabilities, node_logits))
