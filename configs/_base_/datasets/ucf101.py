# UCF-101, split 1, as prepared by MMAction2's tools/data/ucf101 scripts
# (videos under data/ucf101/videos/<Class>/v_*.avi and the split lists
# ucf101_{train,val}_split_1_videos.txt). 16 frames at 112x112 as in the
# paper; 10 clips per video at test time. The hierarchy (101 leaves, 20
# parents, 5 grandparents) and its embedding ship with the package.
data_root = 'data/ucf101'
hierarchy_dir = 'hprotopnet_mm/hierarchy/files'
hierarchy_file = f'{hierarchy_dir}/ucf101_hierarchy.csv'
label_map_file = f'{hierarchy_dir}/ucf101_label_map.txt'
embedding_file = f'{hierarchy_dir}/ucf101_embedding_d300.pth'
num_classes = 101
# What a hierarchical head needs to know of the dataset:
# model = dict(cls_head=dict(_base_.hierarchy_head, ...)).
hierarchy_head = dict(
    num_classes=num_classes,
    hierarchy_file=hierarchy_file,
    label_map_file=label_map_file,
    embedding_file=embedding_file)

dataset_type = 'CheckedVideoDataset'
# Checks of the annotation lists when a dataset is built (see
# CheckedVideoDataset): every line is well formed, every label is a leaf of
# the hierarchy, the class folder of every video path is its label's class
# in the label map, every video opens with decord and has frames.
# on_bad_video='skip' leaves bad videos out (listed in a warning) instead of
# stopping; check_videos=False skips opening the videos.
dataset_checks = dict(
    check_videos=True,
    on_bad_video='error',
    label_map_file=label_map_file,
    hierarchy_file=hierarchy_file,
    path_class_pattern=r'^(?P<class>[^/]+)/')
ann_file_train = f'{data_root}/ucf101_train_split_1_videos.txt'
ann_file_val = f'{data_root}/ucf101_val_split_1_videos.txt'
clip_len = 16
num_test_clips = 10
meta_keys = ('img_shape', 'filename', 'frame_inds', 'num_clips', 'clip_len')

train_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames', clip_len=clip_len, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='RandomCrop', size=112),
    dict(type='Flip', flip_ratio=0.5),
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
    dict(type='Resize', scale=(-1, 128)),
    dict(type='CenterCrop', crop_size=112),
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
    dict(type='Resize', scale=(-1, 128)),
    dict(type='CenterCrop', crop_size=112),
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
        ann_file=ann_file_val,
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
