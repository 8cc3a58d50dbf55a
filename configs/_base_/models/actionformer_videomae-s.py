# ActionFormer end to end from raw video with a VideoMAE-S encoder (VideoMAEEncoder: 12 blocks,
# width 384, 6 heads, 16x16 patches, tubelet 2, mmaction2 VideoMAE-S checkpoint keys), temporal
# tokens kept per 16-frame snippet, gradient through every snippet (ratio=1.0; 0.1 is
# encoder gradient sampling) with activation checkpointing: the model of Progressive Block Drop
# (arXiv 2503.16916). The dataset configs set the snippets; checkpoint path:
#   data/pretrained/vit-small-p16_videomae-k400-pre_16x4x1_kinetics-400.pth
# Follows the VideoMAE-S backbone of OpenTAD configs/adatad/thumos/e2e_thumos_videomae_s_768x1_160_fullft.py
# (VisionTransformerCP, drop path 0.1, LN eps 1e-6, return_feat_map=True): the temporal tokens go
# to the detector without fc_norm (temporal_fc_norm=False; fc_norm is kept, frozen, for the
# checkpoint keys). Weight decay 0.05 on every encoder parameter (LayerNorms, biases and patch
# embedding included), as the public optimizer's backbone group: the paper configs' paramwise_cfg
# custom key 'backbone' (decay_mult=1.0) bypasses norm_decay_mult / bias_decay_mult there.
_base_ = ['./actionformer.py']
model = dict(
    data_preprocessor=dict(
        _delete_=True, type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], format_shape='NCTHW'),
    backbone=dict(
        type='EGSBackboneWrapper',
        backbone=dict(type='VideoMAEEncoder', out_type='temporal', img_size=224, patch_size=16,
                      embed_dims=384, depth=12, num_heads=6, mlp_ratio=4, qkv_bias=True,
                      num_frames=16, tubelet_size=2, drop_path_rate=0.1,
                      temporal_fc_norm=False),
        ratio=1.0, mode='joint', chunk_size=8, seed=0, norm_eval=False,
        keep_temporal=True, with_cp=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/vit-small-p16_videomae-k400-pre_16x4x1_kinetics-400.pth')),
    projection=dict(in_channels=384))
