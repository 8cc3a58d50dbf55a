# ActionFormer (ActionFormer: Localizing Moments of Actions with Transformers, arXiv 2202.07925),
# OpenTAD's THUMOS14 I3D setting (configs/_base_/models/actionformer.py there): 2 masked convs +
# 2 stem + 5 branch transformer blocks (local window 19, 4 heads, width 512, drop path 0.1), a
# 6-level pyramid (strides 1..32) with per-level LayerNorm, shared heads (2 conv towers, prior
# 0.01, per-level scale), centre sampling radius 1.5, focal + 1-D DIoU losses with the running
# normaliser (100, momentum 0.9).
model = dict(
    type='ActionFormer',
    data_preprocessor=dict(type='TADDataPreprocessor'),
    projection=dict(type='ActionFormerProjection', in_channels=2048, embed_dims=512,
                    arch=(2, 2, 5), num_heads=4, window_size=19, proj_drop=0.0, drop_path=0.1,
                    input_drop=0.0, use_abs_pe=False, max_seq_len=2304),
    neck=dict(type='FPNIdentity', in_channels=512, num_levels=6),
    head=dict(
        type='ActionFormerHead',
        num_classes=20,
        in_channels=512,
        feat_channels=512,
        num_convs=2,
        strides=(1, 2, 4, 8, 16, 32),
        regress_ranges=((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10000)),
        center_sample_radius=1.5,
        cls_prior_prob=0.01,
        label_smoothing=0.0,
        loss_normalizer=100,
        loss_normalizer_momentum=0.9,
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      reduction='sum'),
        loss_reg=dict(type='DIoU1dLoss', reduction='sum'),
        reg_loss_weight=1.0),
    test_cfg=dict(score_thr=1e-3, pre_nms_topk=2000, min_duration=0.05, class_agnostic=False))
