# THUMOS14 raw videos for end-to-end TAD. Data layout:
#   data/thumos14/annotations/thumos_14_anno.json   (ActivityNet format; subset "training" =
#                                                   the 200 validation videos, "validation" =
#                                                   the 213 test videos; "Ambiguous" kept)
#   data/thumos14/videos/<video_id>.mp4             (e.g. video_validation_0000051.mp4,
#                                                   resampled to 30 fps)
# Sliding windows of 128 snippets, stride 64 (paper sec. 4.2); a snippet every 4 frames
# (7.5 snippets/s at 30 fps, as the I3D features of the paper), clip_len frames each.
dataset_type = 'TADDataset'
data_root = 'data/thumos14/'
ann_file = data_root + 'annotations/thumos_14_anno.json'
video_dir = data_root + 'videos'
temporal_dim = 128
clip_len = 16
img_size = 112

train_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1, short_side=128),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='RandomCrop', size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
test_pipeline = [
    dict(type='DecodeTADSnippets', clip_len=clip_len, frame_interval=1, short_side=128),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackTADInputs', input_key='imgs')
]
common = dict(type=dataset_type, ann_file=ann_file, modality='video',
              data_prefix=dict(video=video_dir), regime='sliding', temporal_dim=temporal_dim,
              window_stride=64, snippet_stride=4, ignore_labels=('Ambiguous', ))
train_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(common, subset='training', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(common, subset='validation', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='TADMetric', tiou_thresholds='thumos', max_per_video=200,
                     topk_classes=2)
test_evaluator = val_evaluator
