# Progressive Block Drop (arXiv 2503.16916) of the tiny VideoMAE classifier, in one run:
# 3 stages x 4 epochs; each stage drops the block whose removal keeps the best top-1 on 64
# training clips (test pipeline), then recovers with LoRA (rank 64 / 4) + LayerNorms + patch
# embedding + head, trained on the labels and distilled from the uncompressed teacher (feature
# alignment by original block index + class KD, T = 3.5). Stops early when the recovered top-1
# falls more than 2 points below the baseline.
#   python tools/train.py configs/block_drop/videomae-tiny_1xb16-8x2x1-30e_synthetic-clips-rgb.py
#   python tools/train.py \
#       configs/block_drop/block-drop_videomae-tiny_1xb16-8x2x1-3x4e_synthetic-clips-rgb.py
#   (model.student_ckpt below points at the first run's epoch_30.pth)
#   python tools/export_block_drop.py <this config> work_dirs/<this config>/epoch_12.pth exported/
_base_ = ['./videomae-tiny_1xb16-8x2x1-30e_synthetic-clips-rgb.py']
student = {{_base_.model}}
model = dict(
    _delete_=True,
    type='BlockDropDistiller',
    student=student,
    encoder_path='backbone',  # Recognizer3D.backbone is the VideoMAEEncoder
    student_ckpt='work_dirs/videomae-tiny_1xb16-8x2x1-30e_synthetic-clips-rgb/epoch_30.pth',
    distill_loss=dict(type='CrossDepthDistillLoss', feat_weight=1.0, cls_weight=1.0,
                      temperature=3.5))
stage_epochs, max_drops = 4, 3
max_epochs = stage_epochs * max_drops
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1,
                 val_interval=stage_epochs)
# recovery (the paper: lr 1e-4, wd 0.05, clip 1.0; warm-up then cosine), per stage
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [  # stage-relative: BlockDropHook rebuilds it at every stage start
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=stage_epochs - 1, eta_min=0, by_epoch=True, begin=1,
         end=stage_epochs, convert_to_iter_based=True)
]
custom_hooks = [
    dict(type='BlockDropHook', stage_epochs=stage_epochs, max_drops=max_drops, tolerance=0.02,
         criterion='metric', metric_key='acc/top1', subset_size=64)
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2))
