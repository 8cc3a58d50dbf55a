# ETAD detector (paper 001): LSTM-boosted temporal aggregation, boundary evaluation module,
# detector proposal sampling (random 6%), 3-stage cascade (positive tIoU 0.7/0.8/0.9), eq. (1)
# loss weights 1/1/1/10. Class labels: the built-in video-level head (cls_head); configs that
# follow the paper on ActivityNet/THUMOS set cls_head=None and give TADMetric the external
# classifier's scores (class_score_file).

model = dict(
    type='ETAD',
    data_preprocessor=dict(type='TADDataPreprocessor'),
    neck=dict(type='LSTMTemporalAggregation', in_channels=400, channels=256, num_convs=2),
    boundary_head=dict(type='ETADBoundaryHead', in_channels=256, feat_channels=256),
    proposal_sampler=dict(
        type='ProposalSampler', temporal_dim=128, ratio=0.06, strategy='random',
        seed=0),
    proposal_head=dict(
        type='ETADCascadeHead',
        in_channels=256,
        feat_channels=128,
        fc_channels=512,
        roi_size=16,
        extend_ratio=0.5,
        pos_iou_thrs=(0.7, 0.8, 0.9),
        loss_boundary=dict(type='BalancedBinaryCrossEntropyLoss', loss_weight=1.0),
        loss_iou_cls=dict(type='BalancedBinaryCrossEntropyLoss', loss_weight=1.0),
        loss_iou_reg=dict(type='mmdet.SmoothL1Loss', beta=0.1, loss_weight=1.0),
        loss_offset=dict(type='mmdet.SmoothL1Loss', beta=0.1, loss_weight=10.0)),
    # built-in video-level classifier (set cls_head=None for an external class_score_file)
    cls_head=dict(type='TADVideoClsHead', in_channels=256, num_classes=200),
    test_cfg=dict(max_proposals=1000, boundary_threshold=0.5))
