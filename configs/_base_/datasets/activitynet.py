# ActivityNet v1.3, trimmed: one sample per annotated segment, read from the
# downloaded videos (data/activitynet/videos/v_<id>.mp4, or <id>.mp4, .mkv,
# .webm) with the official annotation file
# (data/activitynet/activity_net.v1-3.min.json). Nothing is cut: frames are
# sampled inside each segment (ActivityNetSegmentDataset puts its
# DecordSegmentInit in the place of DecordInit). The hierarchy (200 leaves,
# 38 parents, 6 grandparents) and its embedding ship with the package.
data_root = 'data/activitynet'
hierarchy_dir = 'hprotopnet_mm/hierarchy/files'
hierarchy_file = f'{hierarchy_dir}/activitynet_hierarchy.csv'
label_map_file = f'{hierarchy_dir}/activitynet_label_map.txt'
embedding_file = f'{hierarchy_dir}/activitynet_embedding_d300.pth'
num_classes = 200
# What a hierarchical head needs to know of the dataset:
# model = dict(cls_head=dict(_base_.hierarchy_head, ...)).
hierarchy_head = dict(
    num_classes=num_classes,
    hierarchy_file=hierarchy_file,
    label_map_file=label_map_file,
    embedding_file=embedding_file)

dataset_type = 'ActivityNetSegmentDataset'
ann_file = f'{data_root}/activity_net.v1-3.min.json'
video_dir = f'{data_root}/videos'
# Checks when a dataset is built (see ActivityNetSegmentDataset): every
# annotated label is a leaf of the hierarchy, every video opens with decord
# and has frames, segments past the end of their video are clipped (and
# counted in the log). Many of ActivityNet's YouTube videos cannot be
# downloaded any more, so missing or unreadable videos are left out with all
# their segments and listed in a warning (on_bad_video='skip'); set 'error'
# to stop on them instead. check_videos=False skips opening the videos. A
# segment whose video fails while it is decoded is replaced by the next
# segment of its class. BadVideoHook stops the run when more than
# max_bad_ratio of the listed videos are bad, missing ones included: 0.3
# here (the class default is 0.1) leaves room for the videos gone from
# YouTube; the warning gives the count for your download.
dataset_checks = dict(
    check_videos=True,
    on_bad_video='skip',
    max_bad_ratio=0.3,
    label_map_file=label_map_file,
    hierarchy_file=hierarchy_file)
clip_len = 16
num_test_clips = 10
# segment_id tells the segments of one video apart (the metric's video_key).
meta_keys = ('img_shape', 'filename', 'frame_inds', 'num_clips', 'clip_len',
             'segment_id', 'segment')

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
        ann_file=ann_file,
        subset='training',
        data_prefix=dict(video=video_dir),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        **dataset_checks,
        ann_file=ann_file,
        subset='validation',
        data_prefix=dict(video=video_dir),
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
        ann_file=ann_file,
        subset='validation',
        data_prefix=dict(video=video_dir),
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
        ann_file=ann_file,
        subset='training',
        data_prefix=dict(video=video_dir),
        pipeline=single_clip_pipeline,
        test_mode=True))

# One "video" of the video-level metrics is one segment (several clips of it
# at test time), as in the paper.
val_evaluator = dict(
    type='HierarchicalAccuracy',
    hierarchy_file=hierarchy_file,
    label_map_file=label_map_file,
    video_key='segment_id')
test_evaluator = val_evaluator
