# Baseline: Hyperbolic ResNet. Pooled features -> linear -> expmap0 ->
# negative Poincare distances to the class embeddings; no prototypes.
_base_ = ['./r3d18.py']

model = dict(
    cls_head=dict(
        type='HyperbolicHead',
        in_channels=512,
        temperature=1.0,
        dropout_ratio=0.5,
        average_clips=None))
