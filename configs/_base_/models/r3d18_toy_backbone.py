# The toy size of R3D-18 (see r3d18.py), for 16x56x56 clips on the CPU:
# base_channels=16 and the network stops after layer 3 (64 channels). The
# feature map is 8x4x4 (time, height, width). Four stages would see the whole
# 56 px frame from every cell; three keep the receptive field smaller, so the
# prototypes' activation maps stay local, and a finer map in time. The toy
# configs take these with {{_base_.toy_backbone}} and
# {{_base_.toy_feature_channels}}.
toy_backbone = dict(
    base_channels=16,
    num_stages=3,
    spatial_strides=(1, 2, 2),
    temporal_strides=(1, 1, 2),
    dilations=(1, 1, 1),
    inflate=(1, 1, 1),
    out_indices=(2, ))
toy_feature_channels = 64
# The toy prototype models run the same weights with layer 3 at spatial
# stride 1 and dilation 2 (the dilated-convolution trick of DeepLab): an
# 8x7x7 map whose cells see about as far as the 8x4x4 cells, twice as
# densely. On the 4x4 map 12 of the 16 cells touch the zero-padded border; on
# the 7x7 map 25 of 49 are inside it. toy_feature_grid is that map's
# (T, H, W), for the prototype heads' centring_grid.
toy_prototype_backbone = dict(
    toy_backbone, spatial_strides=(1, 2, 1), dilations=(1, 1, 2))
toy_feature_grid = (8, 7, 7)
