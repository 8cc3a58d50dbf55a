# ETAD detector (ETAD: A Unified Framework for Efficient Temporal Action Detection, arXiv
# 2205.07134): LSTM-boosted temporal aggregation, boundary evaluation module, detector proposal
# sampling (random 6%), 3-stage cascade (offsets regressed above tIoU 0.7/0.8/0.9) with the
# public code's losses (sming256/ETAD) and its inference (stage average, score iou_cls*iou_reg).
# Class labels: the built-in video-level head (cls_head); configs that follow the paper on
# ActivityNet/THUMOS set cls_head=None and give TADMetric the external classifier's scores
# (class_score_file). The proposal sampler's seed follows the run's randomness.seed.

model = dict(
    type='ETAD',
    data_preprocessor=dict(type='TADDataPreprocessor'),
    neck=dict(type='LSTMTemporalAggregation', in_channels=400, channels=256, num_convs=2),
    boundary_head=dict(type='ETADBoundaryHead', in_channels=256, feat_channels=256),
    proposal_sampler=dict(type='ProposalSampler', temporal_dim=128, ratio=0.06, strategy='random'),
    proposal_head=dict(
        type='ETADCascadeHead',
        in_channels=256,
        feat_channels=128,
        mid_channels=512,
        fc_channels=128,
        roi_size=24,
        extend_ratio=0.5,
        pos_iou_thrs=(0.7, 0.8, 0.9),
        loss_iou_cls=dict(type='SampledBinaryCrossEntropyLoss', pos_threshold=0.9,
                          loss_weight=1.0),
        loss_iou_reg=dict(type='IoUBalancedMSELoss', loss_weight=5.0),
        loss_boundary=dict(type='SampledBinaryCrossEntropyLoss', pos_threshold=0.5,
                           loss_weight=0.5),
        loss_offset=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=10.0)),
    # built-in video-level classifier (set cls_head=None for an external class_score_file)
    cls_head=dict(type='TADVideoClsHead', in_channels=400, num_classes=200),
    cls_head_input='snippet',  # the head reads the snippet features (in_channels = their width)
    test_cfg=dict(max_proposals=1000, boundary_threshold=0.5, force_edges=True,
                  stage_fusion='mean', score='iou'))
