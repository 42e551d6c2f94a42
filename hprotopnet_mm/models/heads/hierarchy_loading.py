"""Loading the class hierarchy and its hyperbolic embedding for a head, with
the checks that they agree with each other and with the head."""
import math
from typing import Optional, Tuple

from hprotopnet_mm.hierarchy import (ClassHierarchy, HyperbolicEmbedding,
                                     load_embedding)


def load_hierarchy_and_embedding(
    owner: str, num_classes: int, hierarchy_file: str, label_map_file: str,
    embedding_file: str, curvature: Optional[float]
) -> Tuple[ClassHierarchy, HyperbolicEmbedding, float]:
    """Read the class hierarchy and its embedding and check they agree.

    Args:
        owner (str): Name of the head, for the error messages.
        num_classes (int): Number of classes the head is built for.
        hierarchy_file (str): Hierarchy CSV.
        label_map_file (str): Label map, one class name per line.
        embedding_file (str): Hyperbolic embedding of the hierarchy.
        curvature (float, optional): c > 0 of the ball; None takes the
            embedding file's.

    Returns:
        tuple: The hierarchy, the embedding and the curvature c.

    Raises:
        ValueError: If ``num_classes`` differs from the number of leaves,
            the curvature is not positive or differs from the file's, or the
            embedding does not match the hierarchy.
    """
    hierarchy = ClassHierarchy.from_files(hierarchy_file, label_map_file)
    if num_classes != hierarchy.num_leaves:
        raise ValueError(
            f'{owner}: num_classes={num_classes} but {hierarchy_file} with '
            f'label map {label_map_file} has {hierarchy.num_leaves} leaf '
            f'classes')
    embedding = load_embedding(embedding_file)
    embedding.check_matches(hierarchy, embedding_file)
    if tuple(embedding.embeddings.shape[:1]) != (hierarchy.num_nodes, ):
        raise ValueError(
            f'{owner}: {embedding_file} holds embeddings of shape '
            f'{tuple(embedding.embeddings.shape)}, expected '
            f'({hierarchy.num_nodes}, dim)')
    file_curvature = float(embedding.curvature)
    if not file_curvature > 0:
        raise ValueError(f'{owner}: {embedding_file} has curvature '
                         f'{file_curvature}; it must be positive')
    if curvature is None:
        curvature = file_curvature
    elif not curvature > 0:
        raise ValueError(f'{owner}: curvature must be positive, got '
                         f'{curvature}')
    elif not math.isclose(curvature, file_curvature, rel_tol=1e-6):
        raise ValueError(
            f'{owner}: curvature={curvature} differs from the curvature '
            f'{file_curvature} of {embedding_file}; the embeddings are only '
            f'valid in their own ball (leave curvature=None to use it)')
    return hierarchy, embedding, float(curvature)
