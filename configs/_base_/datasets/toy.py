# The embedded toy dataset made by tools/make_toy_dataset.py (3 grandparents,
# 6 parents, 12 leaves; 64x64 px, 32-frame mp4 clips). Validation (for
# choices) reads val_list.txt, testing (for the reported figures)
# test_list.txt: independent draws. The embedding file is made from its
# hierarchy by tools/embed_hierarchy.py (see README.md).
data_root = 'data/toy'
hierarchy_file = f'{data_root}/hierarchy.csv'
label_map_file = f'{data_root}/label_map.txt'
embedding_file = f'{data_root}/embedding_d32.pth'
num_classes = 12

dataset_type = 'CheckedVideoDataset'
# Checks of the annotation lists when a dataset is built (see
# CheckedVideoDataset): every line is well formed, every label is one of the
# num_classes classes, every video opens with decord and has frames.
# on_bad_video='skip' leaves bad videos out (listed in a warning) instead of
# stopping; check_videos=False skips opening the videos.
dataset_checks = dict(
    check_videos=True, on_bad_video='error', num_classes=num_classes)
ann_file_train = f'{data_root}/train_list.txt'
ann_file_val = f'{data_root}/val_list.txt'
ann_file_test = f'{data_root}/test_list.txt'
clip_len = 16
num_test_clips = 3
meta_keys = ('img_shape', 'filename', 'frame_inds', 'num_clips', 'clip_len')

train_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='RandomCrop', size=56),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
# Deterministic, unaugmented: used for validation and for the prototype
# projection pass over the training videos.
single_clip_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=1,
        num_clips=1,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='CenterCrop', crop_size=56),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=clip_len,
        frame_interval=1,
        num_clips=num_test_clips,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='CenterCrop', crop_size=56),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=meta_keys)
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        **dataset_checks,
        ann_file=ann_file_train,
        data_prefix=dict(video=f'{data_root}/videos'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        **dataset_checks,
        ann_file=ann_file_val,
        data_prefix=dict(video=f'{data_root}/videos'),
        pipeline=single_clip_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        **dataset_checks,
        ann_file=ann_file_test,
        data_prefix=dict(video=f'{data_root}/videos'),
        pipeline=test_pipeline,
        test_mode=True))
# Training videos through the deterministic pipeline, in a fixed order.
projection_dataloader = dict(
    batch_size=8,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        **dataset_checks,
        ann_file=ann_file_train,
        data_prefix=dict(video=f'{data_root}/videos'),
        pipeline=single_clip_pipeline,
        test_mode=True))

val_evaluator = dict(
    type='HierarchicalAccuracy',
    hierarchy_file=hierarchy_file,
    label_map_file=label_map_file)
test_evaluator = val_evaluator
