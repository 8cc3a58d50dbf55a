# ActivityNet-1.3 raw videos for end-to-end TAD (ETAD: A Unified Framework for Efficient
# Temporal Action Detection, arXiv 2205.07134, sec. 4.2). Data layout:
#   data/activitynet/annotations/activity_net.v1-3.min.json   (official ActivityNet JSON)
#   data/activitynet/annotations/blocked.json                   (videos to exclude; optional)
#   data/activitynet/videos/<video_id>.mp4                      (ids as in the JSON, e.g.
#                                                                "v_---9CpRcKoU"; pre-resizing
#                                                                to short side 256 saves decoding)
# Every video is resized to 128 snippets (resize regime); a snippet is a clip of clip_len frames
# centred on its position. Random crop is the only training augmentation (as in the paper).
dataset_type = 'TADDataset'
data_root = 'data/activitynet/'
ann_file = data_root + 'annotations/activity_net.v1-3.min.json'
video_dir = data_root + 'videos'
temporal_dim = 128
clip_len = 8
img_size = 224

train_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1, short_side=256),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomCrop', size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
test_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1, short_side=256),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
train_dataloader = dict(
    batch_size=4,  # per GPU; the paper trains with 16 videos on 4 GPUs
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='training', modality='video',
        data_prefix=dict(video=video_dir), regime='resize', temporal_dim=temporal_dim,
        blocked_videos=None, skip_invalid=True, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='validation', modality='video',
        data_prefix=dict(video=video_dir), regime='resize', temporal_dim=temporal_dim,
        blocked_videos=None, skip_invalid=True, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='TADMetric', tiou_thresholds='activitynet', max_per_video=100, topk_classes=2,
    # Soft-NMS sigma 0.35: the public ETAD code on ActivityNet
    nms_cfg=dict(type='soft', sigma=0.35, iou_threshold=0.0, min_score=1e-3))
test_evaluator = val_evaluator
