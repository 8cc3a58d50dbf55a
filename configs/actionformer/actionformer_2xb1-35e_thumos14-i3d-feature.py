# ActionFormer (arXiv 2202.07925) on THUMOS14 two-stream I3D features, OpenTAD's setting
# (configs/actionformer/thumos_i3d.py there; reported average mAP 68.44 over tIoU 0.3:0.1:0.7):
# width 512, local window 19, input channel dropout 0.2, AdamW lr 1e-4 / wd 0.05, 5 warm-up epochs
# + cosine, 35 epochs, batch 2, EMA 0.999, clip 1.0; class-aware Soft-NMS (sigma 0.5, 2000 per
# video). Training as OpenTAD's features_i3d_pad.py: one sample per video (regime='full'),
# randomly truncated every epoch (RandomTruncTAD: 2304 snippets, or 0.9-1.0 of a shorter video;
# an action is kept if 50% of it is inside), zero-padded and masked. Evaluation: windows of 2304
# snippets (the public max_seq_len), stride 1152; the public code runs each video as one padded
# pass, the same for every video of up to 2304 snippets (~307 s; nearly all THUMOS14 videos),
# longer ones are split here. (OpenTAD's THUMOS config sets
# voting_thresh=0.7, but its multi-class NMS skips voting, so voting is off here too.) Built and
# tested, not trained here (no dataset); data layout in ../_base_/datasets/thumos14/i3d_feature.py.
_base_ = [
    '../_base_/models/actionformer.py', '../_base_/datasets/thumos14/i3d_feature.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
window_size = 2304
pipeline = [
    dict(type='LoadTADFeatures', in_channels=2048),
    dict(type='SlidingWindowTADFeatures', window_size=window_size),
    dict(type='PackTADInputs')
]
train_pipeline = [
    dict(type='LoadTADFeatures', in_channels=2048),
    dict(type='RandomTruncTAD', trunc_thresh=0.5, crop_ratio=(0.9, 1.0)),
    dict(type='SlidingWindowTADFeatures', window_size=window_size),
    dict(type='PackTADInputs')
]
data = dict(temporal_dim=window_size, window_stride=window_size // 2, pipeline=pipeline)
train_dataloader = dict(batch_size=2, num_workers=2,
                        dataset=dict(data, regime='full', pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=1, dataset=data)
test_dataloader = val_dataloader
model = dict(projection=dict(in_channels=2048, input_drop=0.2))
val_evaluator = dict(
    _delete_=True, type='TADMetric', tiou_thresholds='thumos', max_per_video=2000,
    nms_cfg=dict(type='soft', sigma=0.5, iou_threshold=0.1, min_score=1e-3))
test_evaluator = val_evaluator
