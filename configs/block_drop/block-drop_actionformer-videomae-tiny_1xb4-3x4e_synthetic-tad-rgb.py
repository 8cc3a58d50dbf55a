# Progressive Block Drop (arXiv 2503.16916) of the tiny ActionFormer + VideoMAE detector, in one
# run: 3 stages x 4 epochs; each stage drops the block whose removal keeps the best average mAP
# on 16 training videos (test pipeline), then recovers with LoRA (rank 64 / 4) on qkv/proj +
# LayerNorms + patch embedding + the detector, with the detector's losses and cross-depth
# distillation from the uncompressed teacher (block MSE by original index, class KD T = 3.5,
# 1 - DIoU on positive points). No EMA (the model's structure changes between stages).
#   python tools/train.py configs/block_drop/actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb.py
#   python tools/train.py \
#       configs/block_drop/block-drop_actionformer-videomae-tiny_1xb4-3x4e_synthetic-tad-rgb.py
_base_ = ['./actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb.py']
student = {{_base_.model}}
model = dict(
    _delete_=True,
    type='BlockDropDistiller',
    student=student,
    encoder_path='backbone.backbone',  # ActionFormer.backbone (EGS) .backbone (VideoMAEEncoder)
    student_ckpt='work_dirs/actionformer_videomae-tiny_1xb4-30e_synthetic-tad-rgb/epoch_30.pth',
    distill_loss=dict(type='CrossDepthDistillLoss', temperature=3.5, reg_iou='diou'))
stage_epochs, max_drops = 4, 3
max_epochs = stage_epochs * max_drops
train_cfg = dict(max_epochs=max_epochs, val_interval=stage_epochs)
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=0.05))
param_scheduler = [  # stage-relative: BlockDropHook rebuilds it at every stage start
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=stage_epochs,
         T_max=stage_epochs - 1, eta_min=0.0, convert_to_iter_based=True)
]
custom_hooks = [
    dict(type='BlockDropHook', stage_epochs=stage_epochs, max_drops=max_drops, tolerance=2.0,
         criterion='metric', metric_key='tad/average_mAP', subset_size=16)
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2))
