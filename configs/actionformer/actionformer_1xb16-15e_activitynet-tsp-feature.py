# ActionFormer (arXiv 2202.07925) on ActivityNet-1.3 TSP features, OpenTAD's setting
# (configs/actionformer/anet_tsp.py there; reported average mAP 37.07): features resized to 192
# snippets, width 256, local windows 7 (global attention on the last level), sinusoidal position
# embedding, input dropout 0.2; one class-agnostic class (label smoothing 0.1, regression weight
# 2, normaliser 200) fused with the top-2 classes of an external video classifier; AdamW lr 1e-3
# / wd 0.05, 5 warm-up epochs + cosine, 15 epochs, batch 16, EMA, clip 1; Soft-NMS sigma 0.75,
# 100 per video, segment voting at tIoU 0.9. Built and tested, not trained here (no dataset);
# data layout in ../_base_/datasets/activitynet/tsp_feature.py.
_base_ = [
    '../_base_/models/actionformer.py', '../_base_/datasets/activitynet/tsp_feature.py',
    '../_base_/schedules/actionformer_adamw-cosine.py', '../_base_/default_runtime.py'
]
temporal_dim = 192
pipeline = [
    dict(type='LoadTADFeatures', in_channels=512),
    dict(type='ResizeTADFeatures', temporal_dim=temporal_dim),
    dict(type='PackTADInputs')
]
train_dataloader = dict(dataset=dict(temporal_dim=temporal_dim, pipeline=pipeline))
val_dataloader = dict(dataset=dict(temporal_dim=temporal_dim, pipeline=pipeline))
test_dataloader = val_dataloader
model = dict(
    projection=dict(in_channels=512, embed_dims=256, window_size=[7, 7, 7, 7, 7, -1],
                    use_abs_pe=True, max_seq_len=192, input_drop=0.2),
    neck=dict(in_channels=256),
    head=dict(num_classes=1, in_channels=256, feat_channels=256, label_smoothing=0.1,
              reg_loss_weight=2.0, loss_normalizer=200),
    test_cfg=dict(class_agnostic=True))
max_epochs = 15
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=max_epochs, T_max=max_epochs - 5,
         eta_min=0.0, convert_to_iter_based=True)
]
val_evaluator = dict(
    max_per_video=100, topk_classes=2,
    nms_cfg=dict(type='soft', sigma=0.75, iou_threshold=0.0, min_score=1e-3, voting_thresh=0.9))
test_evaluator = val_evaluator
