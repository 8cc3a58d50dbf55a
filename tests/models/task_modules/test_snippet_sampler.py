"""SnippetSampler: the snippet draws of encoder gradient sampling.

*ETAD: A Unified Framework for Efficient Temporal Action Detection* (arXiv 2205.07134), Fig. 3.
"""
import pytest
import torch

from mmtad_ext.models.task_modules.snippet_sampler import SnippetSampler
from mmtad_ext.registry import TASK_UTILS


@pytest.mark.parametrize('strategy', SnippetSampler.STRATEGIES)
@pytest.mark.parametrize('ratio,num', [(0.1, 128), (0.3, 128), (0.25, 8), (0.1, 100),
                                       (0.5, 7), (1.0, 16), (0.01, 10)])
def test_count_and_range(strategy, ratio, num):
    sampler = SnippetSampler(ratio, strategy, seed=0)
    for _ in range(5):
        idx = sampler.sample(num)
        assert idx.numel() == max(1, round(ratio * num))
        assert idx.unique().numel() == idx.numel()  # no duplicates
        assert torch.all(idx[1:] > idx[:-1])  # sorted
        assert idx.min() >= 0 and idx.max() < num


def test_round_is_exact_for_paper_setting():
    assert SnippetSampler(0.1, seed=0).num_samples(128) == 13
    assert SnippetSampler(0.3, seed=0).num_samples(128) == 38
    assert SnippetSampler(0.0, seed=0).sample(128).numel() == 0


@pytest.mark.parametrize('strategy', SnippetSampler.STRATEGIES)
def test_deterministic_per_seed(strategy):
    a = SnippetSampler(0.1, strategy, seed=7).sample_batch(4, 128)
    b = SnippetSampler(0.1, strategy, seed=7).sample_batch(4, 128)
    c = SnippetSampler(0.1, strategy, seed=8).sample_batch(4, 128)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a[0], a[1]) or not torch.equal(a[1], a[2])  # videos differ


def test_block_is_contiguous():
    sampler = SnippetSampler(0.1, 'block', seed=0)
    starts = set()
    for _ in range(20):
        idx = sampler.sample(128)
        assert torch.equal(idx, torch.arange(int(idx[0]), int(idx[0]) + 13))
        starts.add(int(idx[0]))
    assert len(starts) > 1


def test_grid_is_evenly_strided():
    sampler = SnippetSampler(0.1, 'grid', seed=0)
    phases = set()
    for _ in range(20):
        idx = sampler.sample(128)
        assert torch.all(idx.diff() == 128 // 13)
        phases.add(int(idx[0]))
    assert len(phases) > 1 and max(phases) < 128 - 9 * 12


def test_random_covers_every_snippet():
    sampler = SnippetSampler(0.1, 'random', seed=0)
    seen = torch.cat([sampler.sample(128) for _ in range(100)]).unique()
    assert seen.numel() == 128


def test_state_dict_resumes():
    sampler = SnippetSampler(0.1, seed=3)
    state = sampler.state_dict()
    first = sampler.sample(64)
    sampler.load_state_dict(state)
    assert torch.equal(sampler.sample(64), first)


def test_registered_and_bad_arguments():
    assert isinstance(TASK_UTILS.build(dict(type='SnippetSampler', ratio=0.2, seed=0)),
                      SnippetSampler)
    with pytest.raises(ValueError, match='-0.1'):
        SnippetSampler(-0.1)
    with pytest.raises(ValueError, match='strategy'):
        SnippetSampler(0.1, 'uniform')


def test_samplers_share_one_base_and_the_registry_builds_them():
    from mmtad_ext.models.task_modules import BaseIndexSampler, ProposalSampler
    from mmtad_ext.registry import TASK_UTILS
    snip = TASK_UTILS.build(dict(type='SnippetSampler', ratio=0.25, strategy='grid', seed=3))
    prop = TASK_UTILS.build(dict(type='ProposalSampler', temporal_dim=16, ratio=0.25, seed=3))
    assert isinstance(snip, BaseIndexSampler) and isinstance(prop, ProposalSampler)
    assert isinstance(prop, BaseIndexSampler)
    for sampler in (snip, prop):
        with pytest.raises(ValueError, match=type(sampler).__name__):
            type(sampler)(ratio=0.5, strategy='stripes')
