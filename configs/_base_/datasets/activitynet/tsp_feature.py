# ActivityNet-1.3 with TSP (R(2+1)D-34) snippet features, ActivityNet regime (every video resized
# to 128 snippets). Not shipped; expected layout (paths relative to the working directory):
#   data/activitynet/annotations/activity_net.v1-3.min.json   official annotation (ActivityNet)
#   data/activitynet/annotations/blocked.json                 JSON list of unavailable videos
#   data/activitynet/features/tsp/<video_id>.npy              (T, 512) float32 per video
#   data/activitynet/annotations/video_class_scores.json      external video-level classifier
#       scores {video_id: [200 floats]} in the dataset's class order (sorted class names), e.g.
#       converted from the CUHK classifier results used by BMN/ETAD.
# Difference from the public feature recipe (OpenTAD configs/_base_/datasets/activitynet-1.3/
# features_tsp_resize*.py), not adopted yet: features are resized here by linear interpolation
# (ResizeTADFeatures); the public code resizes by RoI averaging (ResizeFeat
# tool='torchvision_align') and its ActionFormer recipe adds RandomTrunc (crop ratio 0.9-1.0)
# after resizing for training.
dataset_type = 'TADDataset'
data_root = 'data/activitynet/'
ann_file = data_root + 'annotations/activity_net.v1-3.min.json'
blocked = data_root + 'annotations/blocked.json'
feature_dir = data_root + 'features/tsp'
temporal_dim = 128

pipeline = [
    dict(type='LoadTADFeatures', in_channels=512),
    dict(type='ResizeTADFeatures', temporal_dim=temporal_dim),
    dict(type='PackTADInputs')
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='training', blocked_videos=blocked,
        data_prefix=dict(feature=feature_dir), regime='resize', temporal_dim=temporal_dim,
        pipeline=pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, ann_file=ann_file, subset='validation', blocked_videos=blocked,
        data_prefix=dict(feature=feature_dir), regime='resize', temporal_dim=temporal_dim,
        pipeline=pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='TADMetric', tiou_thresholds='activitynet', max_per_video=100, topk_classes=2,
    # Soft-NMS sigma 0.35: the public ETAD code on ActivityNet
    nms_cfg=dict(type='soft', sigma=0.35, iou_threshold=0.0, min_score=1e-3),
    class_score_file=data_root + 'annotations/video_class_scores.json')
test_evaluator = val_evaluator
