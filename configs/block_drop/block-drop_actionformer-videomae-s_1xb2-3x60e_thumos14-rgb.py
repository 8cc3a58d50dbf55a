# Progressive Block Drop (arXiv 2503.16916) with the paper's THUMOS14 setting, following
# nanxiaolu/Progressive_Block_Drop-TAD configs/adatad/videomae/e2e_thumos_videomae_s_768x1_160_LongLoRA_distillation_auto.py
# (data and frame sampling as the base config: 768-position windows one frame every 4, random
# truncation in training; Soft-NMS sigma 0.7 + voting 0.7): the end-to-end
# ActionFormer + VideoMAE-S of ../actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py,
# trained first, is compressed by up to depth // 4 = 3 blocks (the public code's rule), 60
# epochs per stage (5 warm-up + cosine, AdamW lr 1e-4, wd 0.05, clip 1.0); selection by
# mAP@0.5 on the training split (THUMOS14's validation videos) with the test pipeline on the val
# windows (stride 576; training itself truncates randomly); LoRA rank
# 384 / 4 = 96 on qkv/proj, block LayerNorms, patch embedding and the detector train; feature,
# class (T = 3.5) and 1 - DIoU distillation from the uncompressed teacher, all weights 1.0.
# Stops early if the recovered mAP@0.5 falls more than 1 point below the uncompressed model.
# EMA 0.999 (mmengine EMAHook, momentum 0.001) through the stages as the public code: the
# averaged model follows every drop and merge, is scored for selection and is each stage's
# result. LoRA A initialised as the public code (randn / sqrt(r), lora_init='public').
# Built and tested, not trained here (no dataset, no GPU).
#   python tools/train.py configs/actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py
#   python tools/train.py configs/block_drop/block-drop_actionformer-videomae-s_1xb2-3x60e_thumos14-rgb.py
_base_ = ['../actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py']
student = {{_base_.model}}  # its pretrained init_cfg is skipped: the weights are student_ckpt's
model = dict(
    _delete_=True,
    type='BlockDropDistiller',
    student=student,
    encoder_path='backbone.backbone',
    student_ckpt='work_dirs/actionformer_videomae-s_1xb2-60e_thumos14-rgb/epoch_60.pth',
    distill_loss=dict(type='CrossDepthDistillLoss', feat_weight=1.0, cls_weight=1.0,
                      reg_weight=1.0, temperature=3.5, reg_iou='diou'))
stage_epochs, max_drops = 60, 3
max_epochs = stage_epochs * max_drops
train_cfg = dict(max_epochs=max_epochs, val_interval=stage_epochs)
# LoRA, block norms and patch embedding at the detector's lr 1e-4 with wd 0.05 (the public
# custom groups lora / norm / patch_embed: lr 1e-4, weight_decay 0.05, LayerNorms included)
optim_wrapper = dict(
    optimizer=dict(lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0, decay_mult=1.0)}))
param_scheduler = [  # stage-relative: BlockDropHook rebuilds it at every stage start
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=stage_epochs,
         T_max=stage_epochs - 5, eta_min=0.0, convert_to_iter_based=True)
]
# Selection streams the whole training split (subset_size=None, as the public code): memory
# stays at one batch whatever the split's size; each stage costs one test-pipeline pass over
# it with every remaining block skipped in turn (12 forwards per window at depth 12).
# A smaller subset_size cuts that time but selects worse: on the synthetic clips (3 seeds)
# selecting on 16 instead of 64 clips ended 3.7 +- 1.0 top-1 points lower (BENCHMARKS.md).
custom_hooks = [
    dict(type='BlockDropHook', stage_epochs=stage_epochs, max_drops=max_drops, tolerance=1.0,
         criterion='metric', metric_key='tad/mAP@0.5', subset_size=None,
         lora_init='public'),
    dict(type='EMAHook', momentum=0.001)  # the public code's ModelEma(decay=0.999)
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2))
