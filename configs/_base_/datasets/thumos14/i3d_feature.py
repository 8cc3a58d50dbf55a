# THUMOS14 with two-stream I3D snippet features (16-frame clips every 4 frames at 30 fps, as
# distributed with ActionFormer), sliding-window regime (128 snippets, stride 64). Subsets follow
# the modern convention: "training" = the 200 validation videos, "validation" = the 213 test
# videos; "Ambiguous" is never a class. Not shipped; expected layout:
#   data/thumos14/annotations/thumos14.json          ActivityNet-format annotation
#   data/thumos14/features/i3d/<video_id>.npy        (T, 2048) float32 per video
#   data/thumos14/annotations/video_class_scores.json  external video-level classifier scores
#       {video_id: [20 floats]} in the dataset's class order (e.g. UntrimmedNet, as ETAD)
# Time alignment as OpenTAD (configs/_base_/datasets/thumos-14/features_i3d_pad.py and
# features_i3d_sw.py: feature_stride 4, offset_frames 8): snippet t is centred at (4t + 8) / fps
# with each video's own fps (annotation "fps", else "frame" / "duration"; a video with neither
# is an error naming it). snippet_duration=4 / 30 instead gives the plain 30 fps grid.
# Training samples: fixed sliding windows here, as the public ETAD recipe
# (configs/etad/thumos_i3d.py on features_i3d_sw.py); the ActionFormer config trains on whole
# videos randomly truncated every epoch (regime='full' + RandomTruncTAD), as its public recipe.
dataset_type = 'TADDataset'
data_root = 'data/thumos14/'
ann_file = data_root + 'annotations/thumos14.json'
feature_dir = data_root + 'features/i3d'
window_size = 128

pipeline = [
    dict(type='LoadTADFeatures', in_channels=2048),
    dict(type='SlidingWindowTADFeatures', window_size=window_size),
    dict(type='PackTADInputs')
]
data = dict(
    type=dataset_type, ann_file=ann_file, data_prefix=dict(feature=feature_dir),
    regime='sliding', temporal_dim=window_size, window_stride=64, snippet_stride=4,
    offset_frames=8,
    ignore_labels=('Ambiguous', ), pipeline=pipeline)
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(data, subset='training'))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(data, subset='validation', test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='TADMetric', tiou_thresholds='thumos', max_per_video=200, topk_classes=2,
    class_score_file=data_root + 'annotations/video_class_scores.json')
test_evaluator = val_evaluator
