# The uncompressed VideoMAE-S ActionFormer baseline of Progressive Block Drop (arXiv 2503.16916)
# in the public code's form (configs/adatad/videomae/e2e_thumos_videomae_s_768x1_160_LongLoRA.py
# in nanxiaolu/Progressive_Block_Drop-TAD): the setting of
# ../actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py (fully fine-tuned, encoder 1e-5;
# its frame sampling: 768-position windows one frame every 4, random truncation in training),
# but the encoder frozen except LoRA rank 96 on blocks.N.attn.(qkv|proj) (A ~ randn / sqrt(r)),
# the LayerNorms and the patch embedding, at lr 5e-5 (wd 0.05); neck and head at 1e-4; EMA
# 0.999; 5 warm-up epochs, then the public cosine over 100 epochs stopped at epoch 60. After the
# last epoch LoRAFinetuneHook merges the adapters (before the checkpoint is saved), so
# epoch_60.pth is a plain model, loadable by the fully fine-tuned config and usable as the
# block-drop configs' student_ckpt. Built and tested, not trained here (no dataset, no GPU).
_base_ = ['../actionformer/actionformer_videomae-s_1xb2-60e_thumos14-rgb.py']
optim_wrapper = dict(
    optimizer=dict(lr=1e-4, weight_decay=0.05),
    # the encoder's trainable parameters (LoRA, norms, patch embedding) at 0.5 x 1e-4, with
    # weight decay as the public "custom" groups (the key wins over norm_decay_mult); replaces
    # the base config's 'backbone' key (x0.1 of full fine-tuning)
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5, decay_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, end=60, T_max=95, eta_min=0.0,
         convert_to_iter_based=True)
]
custom_hooks = [
    dict(type='LoRAFinetuneHook', rank=96, encoder_path='backbone.backbone', init='public'),
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.001)
]
