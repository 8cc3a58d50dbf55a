"""Stage-relative parameter schedulers of block drop (mmtad_ext.engine.block_drop.schedule)."""
import pytest

from mmtad_ext.engine.block_drop.schedule import stage_schedulers

WARMUP_COSINE = [dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=5),
                 dict(type='CosineAnnealingLR', by_epoch=True, begin=5, eta_min=0.0)]


def test_a_missing_end_is_the_stage_end_in_epochs_or_iterations():
    out = stage_schedulers(WARMUP_COSINE + [dict(type='ConstantLR', by_epoch=False)],
                           length=8, iters_per_epoch=10, stage=1)
    assert [s['end'] for s in out] == [5, 8, 80]
    assert 'end' not in WARMUP_COSINE[1]  # the config is not modified
    assert stage_schedulers(dict(type='ConstantLR'), 3, 10, 2) == [
        dict(type='ConstantLR', end=3)]
    assert stage_schedulers(None, 3, 10, 1) == []


def test_a_scheduler_that_cannot_fit_in_the_stage_is_refused_by_index():
    with pytest.raises(ValueError, match=r'param_scheduler\[1\] \(CosineAnnealingLR\) begins at '
                       r'5 and ends at 1 epochs into stage 2, which is 1 epochs long'):
        stage_schedulers(WARMUP_COSINE, length=1, iters_per_epoch=10, stage=2)
