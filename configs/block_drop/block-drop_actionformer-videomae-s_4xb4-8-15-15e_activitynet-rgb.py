# Progressive Block Drop (arXiv 2503.16916) with the public code's ActivityNet-1.3 setting
# (configs/adatad/videomae/e2e_anet_videomae_s_768x1_160_LongLoRA_distillation_auto.py in
# nanxiaolu/Progressive_Block_Drop-TAD): the end-to-end ActionFormer + VideoMAE-S of
# ../actionformer/actionformer_videomae-s_4xb4-15e_activitynet-rgb.py (its frame sampling: 768
# frames over the whole video, tokens resized to 192 positions), trained first, loses up to
# depth // 4 = 3 blocks; 8, 15 and 15 epochs in stages 1, 2, 3 (the public workflow's sub_end_epoch
# and full_end_epoch: stage 1 trains 8, each later stage 15), 5 warm-up epochs + cosine to 0 at
# the stage's end (the public stage 1 cosine spans 10 epochs of which it trains 8; here it spans
# the 8 trained), the block kept by average mAP
# on the training split ("train_mAP"), LoRA rank 96 on qkv/proj + block LayerNorms + patch
# embedding at lr 1e-4 (wd 0.05), the detector at lr 1e-3; feature, class (T = 3.5) and 1 - DIoU
# distillation, all weights 1.0, from a DYNAMIC teacher (the previous stage's merged model, the
# public ActivityNet config's dynamic_teacher=True). EMA 0.999 (EMAHook, momentum 0.001)
# through the stages and LoRA A ~ randn / sqrt(r) (lora_init='public'), as the public code.
# Built and tested, not trained here (no dataset, no GPU).
_base_ = ['../actionformer/actionformer_videomae-s_4xb4-15e_activitynet-rgb.py']
student = {{_base_.model}}  # its pretrained init_cfg is skipped: the weights are student_ckpt's
model = dict(
    _delete_=True,
    type='BlockDropDistiller',
    student=student,
    encoder_path='backbone.backbone',
    student_ckpt='work_dirs/actionformer_videomae-s_4xb4-15e_activitynet-rgb/epoch_15.pth',
    distill_loss=dict(type='CrossDepthDistillLoss', feat_weight=1.0, cls_weight=1.0,
                      reg_weight=1.0, temperature=3.5, reg_iou='diou'))
stage_epochs, max_drops = (8, 15, 15), 3
max_epochs = sum(stage_epochs)  # 38
# stages end at epochs 8, 23, 38: validate every epoch (the public code validates from epoch 4
# of stage 1 and most epochs of the later ones)
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
# detector lr 1e-3; LoRA, norms and patch embedding 1e-4 (x0.1 under the "backbone" key) with
# wd 0.05, LayerNorms and biases included (decay_mult=1.0 under that key, from the base config),
# as the public custom groups lora / norm / patch_embed
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
param_scheduler = [  # stage-relative: BlockDropHook rebuilds it at every stage start
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    # no end/T_max: BlockDropHook sets end to the running stage's length (8 or 15), and
    # T_max = end - begin
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, eta_min=0.0,
         convert_to_iter_based=True)
]
# Selection streams the whole training split (subset_size=None, as the public code): memory
# stays at one batch whatever the split's size; each stage costs one test-pipeline pass over
# it with every remaining block skipped in turn (12 forwards per window at depth 12).
# A smaller subset_size cuts that time but selects worse: on the synthetic clips (3 seeds)
# selecting on 16 instead of 64 clips ended 3.7 +- 1.0 top-1 points lower (BENCHMARKS.md).
custom_hooks = [
    dict(type='BlockDropHook', stage_epochs=stage_epochs, max_drops=max_drops, tolerance=1.0,
         criterion='metric', metric_key='tad/average_mAP', subset_size=None,
         lora_init='public', dynamic_teacher=True),
    dict(type='EMAHook', momentum=0.001)  # the public code's ModelEma(decay=0.999)
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2))
