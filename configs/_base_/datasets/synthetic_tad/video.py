# The embedded synthetic raw-video benchmark (64x64 mp4, 8 fps): generate it with
#   python tools/make_synthetic_tad.py --modality video --out-dir data/synthetic_tad_video
# Each video is decoded into a grid of temporal_dim snippets of clip_len frames (resize regime);
# frames are resized to short side 36 and cropped to 32 (random crop in training, the paper's only
# augmentation; no flip: left/right motion is a class).
dataset_type = 'TADDataset'
data_root = 'data/synthetic_tad_video/'
ann_file = data_root + 'annotations.json'
class_map = data_root + 'class_map.txt'
temporal_dim = 32
clip_len = 4

train_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='RandomCrop', size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
test_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1),
    dict(type='Resize', scale=(-1, 36)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]

train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='training', class_map=class_map,
        modality='video', data_prefix=dict(video=data_root + 'videos'), regime='resize',
        temporal_dim=temporal_dim, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='validation', class_map=class_map,
        modality='video', data_prefix=dict(video=data_root + 'videos'), regime='resize',
        temporal_dim=temporal_dim, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='TADMetric', tiou_thresholds='activitynet', max_per_video=100, topk_classes=2,
    # Soft-NMS sigma 0.35: the public ETAD code on ActivityNet
    nms_cfg=dict(type='soft', sigma=0.35, iou_threshold=0.0, min_score=1e-3))
test_evaluator = val_evaluator
