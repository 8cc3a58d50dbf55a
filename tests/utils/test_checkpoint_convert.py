"""mmtad_ext/utils/checkpoint_convert.py: the generic pieces of tools/convert/."""
import pytest
import torch

from mmtad_ext.utils.checkpoint_convert import (ConversionError, Drop, apply_key_map,
                                                load_public_checkpoint, unwrap_state_dict)


def test_first_matching_rule_renames_drops_or_leaves_unmatched():
    t = torch.zeros(1)
    rules = [(r'enc\.fc1\.(weight|bias)', r'mlp.0.\1'), (r'enc\.(.+)', r'backbone.\1'),
             (r'dec\..*', Drop('decoder')), (r'enc\.never', 'x')]
    conv = apply_key_map({'enc.fc1.weight': t, 'enc.norm.bias': t, 'dec.a': t, 'dec.b': t,
                          'xenc.fc1.weight': t, 'enc.fc1.weight_g': t}, rules)
    assert list(conv.state_dict) == ['mlp.0.weight', 'backbone.norm.bias',
                                     'backbone.fc1.weight_g']  # whole-key match, first rule wins
    assert conv.source['mlp.0.weight'] == 'enc.fc1.weight'
    assert conv.dropped == {'dec.a': 'decoder', 'dec.b': 'decoder'}
    assert conv.unmatched == ['xenc.fc1.weight']
    with pytest.raises(ConversionError, match=r'src\.pth: .*1 key\(s\) match no rule: xenc'):
        conv.check('src.pth')
    conv.add('backbone.pos', t, 'regenerated')
    assert conv.summary() == dict(mapped=3, added={'regenerated': 1}, dropped={'decoder': 2},
                                  unmatched=1)
    with pytest.raises(ConversionError, match='both map to backbone.a'):
        apply_key_map({'a': t, 'b': t}, [(r'(a|b)', 'backbone.a')])


def test_unwrap_takes_the_first_listed_entry_and_strips_module(tmp_path):
    a, b = torch.ones(1), torch.zeros(1)
    sd, key = unwrap_state_dict({'epoch': 3, 'state_dict': {'module.x': b},
                                 'state_dict_ema': {'x': a}}, ('state_dict_ema', 'state_dict'))
    assert key == 'state_dict_ema' and torch.equal(sd['x'], a)
    sd, key = unwrap_state_dict({'module.x': a, 'module.y': b})
    assert key is None and list(sd) == ['x', 'y']
    sd, _ = unwrap_state_dict({'model': {'module.x': a, 'y': b}})  # not all: kept as they are
    assert list(sd) == ['module.x', 'y']
    with pytest.raises(ConversionError, match="non-tensor entries: \\['epoch'\\]"):
        unwrap_state_dict({'epoch': 3, 'x': a})
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_public_checkpoint(str(tmp_path / 'missing.pth'))
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(ConversionError, match='cannot read .*junk.pth'):
        load_public_checkpoint(str(tmp_path / 'junk.pth'))
