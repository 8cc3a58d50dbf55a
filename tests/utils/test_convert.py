"""mmtad_ext/utils/convert.py: the shared steps of the public-checkpoint converters."""
import pytest
import torch

from mmtad_ext.utils.convert import (ConversionError, KeyRule, apply_key_map,
                                     complete_extra_state, load_public_state_dict,
                                     save_converted, unwrap_state_dict)


def test_unwrap_nestings_and_prefix():
    a, b = {'module.x.w': torch.ones(1)}, {'module.x.w': torch.zeros(1)}
    sd, origin = unwrap_state_dict(dict(state_dict=a, state_dict_ema=b, epoch=3))
    assert origin == 'state_dict_ema' and list(sd) == ['x.w'] and sd['x.w'].item() == 0
    sd, origin = unwrap_state_dict(dict(state_dict=a, state_dict_ema=b), nesting='state_dict')
    assert origin == 'state_dict' and sd['x.w'].item() == 1
    sd, origin = unwrap_state_dict(dict(model=torch.nn.Linear(2, 1)))  # a pickled module
    assert origin == 'model' and set(sd) == {'weight', 'bias'}
    sd, origin = unwrap_state_dict({'w': torch.ones(1), 'module.v': torch.ones(1)})  # bare
    assert origin == '' and set(sd) == {'w', 'module.v'}  # prefix kept: not on every key
    with pytest.raises(ConversionError, match="no entry 'state_dict_ema'.*epoch, state_dict"):
        unwrap_state_dict(dict(state_dict=a, epoch=1), 'f.pth', nesting='state_dict_ema')
    with pytest.raises(ConversionError, match='f.pth holds no dict of parameter tensors'):
        unwrap_state_dict(dict(epoch=1, meta={}), 'f.pth')


def test_key_map_first_rule_drops_refusals():
    sd = {'a.0.w': torch.ones(1), 'a.1.w': torch.ones(1), 'n_averaged': torch.ones(1)}
    rules = [KeyRule(r'a\.0\.(\w+)', r'first.\1'), (r'a\.(\d+)\.(\w+)', r'rest.\1.\2'),
             KeyRule('n_averaged', None, 'EMA counter')]
    out, report = apply_key_map(sd, rules)
    assert list(out) == ['first.w', 'rest.1.w']
    assert report.mapped == [('a.0.w', 'first.w'), ('a.1.w', 'rest.1.w')]
    assert report.dropped == [('n_averaged', 'EMA counter')]
    assert 'dropped n_averaged: EMA counter' in report.summary()
    with pytest.raises(ConversionError, match=r'src.pth .*1 of 3 key\(s\) match no rule: '
                       r'n_averaged'):
        apply_key_map(sd, rules[:2], source='src.pth')
    with pytest.raises(ConversionError, match='a.0.w and a.1.w both map to same'):
        apply_key_map(sd, [(r'a\.\d\.w', 'same'), ('n_averaged', None)])


def test_extra_state_and_save(tmp_path):
    class WithState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def get_extra_state(self):
            return {'rng': torch.tensor([7])}

        def set_extra_state(self, state):
            self.rng = state['rng']

    model = WithState()
    sd = {k: v for k, v in model.state_dict().items() if k != '_extra_state'}
    assert complete_extra_state(model, sd) == ['_extra_state']
    model.load_state_dict(sd, strict=True)
    out = save_converted({'fc.weight': torch.ones(2, 2).t()}, str(tmp_path / 'd' / 'o.pth'),
                         source='/x/src.pth', converter='c', config='cfg.py', extra={'k': 1})
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta'] == dict(converted_from='src.pth', converter='c', config='cfg.py', k=1)
    assert ckpt['state_dict']['fc.weight'].is_contiguous()
    assert load_public_state_dict(out)[1] == 'state_dict'
