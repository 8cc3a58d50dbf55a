"""BlockDropDistiller on an mmaction2 Recognizer3D with a tiny VideoMAE encoder."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

from mmtad_ext.registry import MODELS


def tiny_recognizer(depth=4, num_classes=4):
    return dict(
        type='Recognizer3D',
        backbone=dict(type='VideoMAEEncoder', img_size=32, patch_size=16, embed_dims=32,
                      depth=depth, num_heads=2, num_frames=4, tubelet_size=2),
        cls_head=dict(type='TimeSformerHead', num_classes=num_classes, in_channels=32,
                      average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75] * 3,
                               std=[57.375] * 3, format_shape='NCTHW'))


def build(**kwargs):
    init_default_scope('mmtad_ext')
    torch.manual_seed(0)
    model = MODELS.build(dict(type='BlockDropDistiller', student=tiny_recognizer(), **kwargs))
    model.init_weights()
    return model


def batch(n=3):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 255, (1, 3, 4, 32, 32), generator=g).float() for _ in range(n)]
    samples = [ActionDataSample().set_gt_label(torch.tensor([i % 4])) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


def test_teacher_is_the_initial_student_and_frozen():
    model = build()
    s, t = model.student.state_dict(), model.teacher.state_dict()
    assert all(torch.equal(s[k], t[k]) for k in s)
    assert not any(p.requires_grad for p in model.teacher.parameters())
    model.train()
    assert not model.teacher.training and model.student.training
    # identical student and teacher: every KD term is 0
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) >= {'loss_cls', 'loss_feat_kd', 'loss_cls_kd', 'top1_acc'}
    assert losses['loss_feat_kd'].item() == 0 and abs(losses['loss_cls_kd'].item()) < 1e-6


def test_kd_terms_follow_the_formula_after_a_drop():
    model = build(distill_loss=dict(type='CrossDepthDistillLoss', temperature=2.0))
    model.eval()  # no dropout: the formula below is exact
    data = model.data_preprocessor(batch(), False)
    model.student_encoder.remove_blocks([1])
    losses = model.loss(**data)
    x = data['inputs'].view(-1, *data['inputs'].shape[2:])  # (B, C, T, H, W)
    s_feats = model.student_encoder.block_outputs(x)
    t_feats = model.teacher_encoder.block_outputs(x)
    assert sorted(s_feats) == [0, 2, 3]
    feat = sum(torch.mean((s_feats[i] - t_feats[i])**2) for i in (0, 2, 3)) / 3
    assert torch.allclose(losses['loss_feat_kd'], feat, atol=1e-6)
    s = model.student.cls_head(model.student.backbone(x))
    t = model.teacher.cls_head(model.teacher.backbone(x))
    kl = (torch.softmax(t / 2, -1) *
          (torch.log_softmax(t / 2, -1) - torch.log_softmax(s / 2, -1))).sum(-1).mean() * 4
    assert torch.allclose(losses['loss_cls_kd'], kl, atol=1e-6)
    # gradients reach the student only
    model.parse_losses(losses)[0].backward()
    assert model.student.backbone.patch_embed.projection.weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())


def test_predict_is_the_student_and_load_student_restores_blocks():
    model = build()
    data = model.data_preprocessor(batch(), False)
    ref = model.student.predict(**data)
    out = model(**data, mode='predict')
    assert torch.equal(out[0].pred_score, ref[0].pred_score)
    full = {k: v.clone() for k, v in model.student.state_dict().items()}
    model.student_encoder.remove_blocks([2])
    assert model.student_encoder.depth == 3
    model.load_student(full)
    assert model.student_encoder.block_ids == [0, 1, 2, 3]
    assert model.data_preprocessor is model.student.data_preprocessor
    assert torch.equal(model(**data, mode='predict')[0].pred_score, ref[0].pred_score)


def test_bad_encoder_path():
    with pytest.raises(AttributeError, match="encoder_path 'neck'"):
        build(encoder_path='neck')
    with pytest.raises(TypeError, match='must be a VideoMAEEncoder'):
        build(encoder_path='cls_head')


def tiny_actionformer():
    vit = dict(type='VideoMAEEncoder', out_type='temporal', img_size=32, patch_size=16,
               embed_dims=16, depth=3, num_heads=2, num_frames=4, tubelet_size=2)
    return dict(
        type='ActionFormer',
        backbone=dict(type='EGSBackboneWrapper', backbone=vit, ratio=0.5,
                      mode='joint', chunk_size=4, seed=0, keep_temporal=True, with_cp=True),
        projection=dict(type='ActionFormerProjection', in_channels=16, embed_dims=16,
                        num_heads=2, window_size=5, drop_path=0.0),
        neck=dict(type='FPNIdentity', in_channels=16),
        head=dict(type='ActionFormerHead', num_classes=3, in_channels=16),
        data_preprocessor=dict(type='ActionDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3,
                               format_shape='NCTHW'))


def tad_samples(n):
    from mmengine.structures import InstanceData
    out = []
    for _ in range(n):
        ds = ActionDataSample()
        gt = InstanceData()
        gt.segments = torch.tensor([[0.1, 0.3], [0.5, 0.9]])
        gt.labels = torch.tensor([1, 2])
        ds.gt_instances = gt
        ds.set_metainfo(dict(window_start=0.0, window_duration=32.0))
        out.append(ds)
    return out


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_actionformer_with_egs_all_three_terms():
    """ActionFormer (distill_forward) on EGS(VideoMAEEncoder): the EGS-shuffled student block
    outputs are aligned with the teacher's, and the three KD terms follow their formulas."""
    from mmtad_ext.structures.segment_ops import segment_diou
    init_default_scope('mmtad_ext')
    torch.manual_seed(0)
    model = MODELS.build(dict(type='BlockDropDistiller', student=tiny_actionformer(),
                              encoder_path='backbone.backbone'))
    model.init_weights()
    model.train()
    g = torch.Generator().manual_seed(0)
    data = model.data_preprocessor(
        dict(inputs=[torch.randn(16, 3, 4, 32, 32, generator=g) for _ in range(2)],
             data_samples=tad_samples(2)), True)
    losses = model(**data, mode='loss')  # identical student and teacher, EGS order shuffled
    assert losses['loss_feat_kd'].item() < 1e-10
    assert losses['loss_cls_kd'].abs().item() < 1e-6
    # (1 - DIoU of identical segments is 0 unless they are empty: an untrained head predicts
    # many zero-length segments, whose IoU is 0 by definition, as in ActionFormer's loss)
    assert {'loss_feat_kd', 'loss_cls_kd', 'loss_reg_kd'} < set(losses)

    model.student_encoder.remove_blocks([1])
    losses = model(**data, mode='loss')
    model.parse_losses(losses)[0].backward()
    with torch.no_grad():
        s = model.student.distill_forward(data['inputs'], data['data_samples'])
        t = model.teacher.distill_forward(data['inputs'], data['data_samples'])
    pos = s['positive']
    assert pos.any() and losses['loss_feat_kd'] > 0
    reg = (1 - segment_diou(s['segments'][pos], t['segments'][pos])).mean()
    assert torch.allclose(losses['loss_reg_kd'], reg, atol=1e-5)
    valid, temp = s['valid'], 3.5
    ps = torch.log_softmax(s['cls_logits'][valid] / temp, -1)
    pt = torch.log_softmax(t['cls_logits'][valid] / temp, -1)
    kl = (pt.exp() * (pt - ps)).sum(-1).mean() * temp**2
    assert torch.allclose(losses['loss_cls_kd'], kl, atol=1e-5)
    enc = model.student_encoder
    assert enc.patch_embed.projection.weight.grad is not None
