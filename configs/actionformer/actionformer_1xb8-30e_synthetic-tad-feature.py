# ActionFormer on the embedded synthetic feature benchmark (the ETAD demo's data), 1 process (CPU)
# x 8 videos, 30 epochs:
#   python tools/make_synthetic_tad.py --out-dir data/synthetic_tad
#   python tools/train.py configs/actionformer/actionformer_1xb8-30e_synthetic-tad-feature.py
# The model is OpenTAD's ActionFormer narrowed for 2 CPU cores (width 128, window 9 for the
# 64-snippet inputs); the schedule is ActionFormer's (AdamW, warm-up + cosine, EMA, clip 1) with
# the learning rate raised for the small benchmark (160 training videos).
_base_ = [
    '../_base_/models/actionformer.py', '../_base_/datasets/synthetic_tad/feature.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
model = dict(
    projection=dict(in_channels=64, embed_dims=128, window_size=9, drop_path=0.1),
    neck=dict(in_channels=128),
    head=dict(num_classes=5, in_channels=128, feat_channels=128))
train_dataloader = dict(batch_size=8)
max_epochs = 30
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
# class-aware detections: per-class Soft-NMS (ActionFormer's THUMOS setting, sigma 0.5)
val_evaluator = dict(nms_cfg=dict(type='soft', sigma=0.5, iou_threshold=0.1, min_score=1e-3),
                     max_per_video=100)
test_evaluator = val_evaluator
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10))
# EMA decay 0.99 (the public 0.999 averages over ~1000 iterations; this schedule has 600)
custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01)]
