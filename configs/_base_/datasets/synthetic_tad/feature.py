# The embedded synthetic feature benchmark: generate it with
#   python tools/make_synthetic_tad.py --out-dir data/synthetic_tad
dataset_type = 'TADDataset'
data_root = 'data/synthetic_tad/'
ann_file = data_root + 'annotations.json'
class_map = data_root + 'class_map.txt'
temporal_dim = 64  # synthetic videos have 96-256 snippets

train_pipeline = [
    dict(type='LoadTADFeatures', in_channels=64),
    dict(type='ResizeTADFeatures', temporal_dim=temporal_dim),
    dict(type='PackTADInputs')
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='training', class_map=class_map,
        data_prefix=dict(feature=data_root + 'features'), regime='resize',
        temporal_dim=temporal_dim, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='validation', class_map=class_map,
        data_prefix=dict(feature=data_root + 'features'), regime='resize',
        temporal_dim=temporal_dim, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='TADMetric', tiou_thresholds='activitynet', max_per_video=100, topk_classes=2,
    # Soft-NMS sigma 0.35: the public ETAD code on ActivityNet
    nms_cfg=dict(type='soft', sigma=0.35, iou_threshold=0.0, min_score=1e-3))
test_evaluator = val_evaluator
