"""benchmark_block_drop: MAC bookkeeping of block drop vs equal-MAC MLP-width pruning and vs a
stock ViT built at the shortened depth."""
import pytest

from mmtad_ext.models.layers.lora import has_lora


@pytest.mark.slow  # over ~0.25 s on an idle 2-core machine
def test_equal_macs_and_linear_block_cost(load_tool, tmp_path):
    tool = load_tool('analysis_tools/benchmark_block_drop')
    out = tmp_path / 'bd.md'
    rows = tool.main(['--embed-dims', '32', '--depth', '4', '--num-heads', '2', '--frames', '4',
                      '--size', '32', '--max-drops', '2', '--rounds', '1', '--out', str(out)])
    drop = [r for r in rows if r['method'] in ('uncompressed', 'block drop (LoRA merged)')]
    mlp = [r for r in rows if r['method'] == 'MLP-width pruning']
    stock = [r for r in rows if r['method'] == 'stock ViT at that depth']
    assert [r['depth'] for r in drop] == [4, 3, 2]
    # identical blocks: every drop removes the same MACs
    assert drop[0]['macs'] - drop[1]['macs'] == drop[1]['macs'] - drop[2]['macs'] > 0
    for d, m in zip(drop[1:], mlp):  # the MLP-pruned model matches within a width step of 8
        assert m['depth'] == 4 and m['width'] < 128
        assert abs(m['macs'] - d['macs']) / d['macs'] < 0.05
    # the merged encoder counts exactly the MACs of mmaction2's ViT built at that depth
    assert [(r['depth'], r['macs']) for r in stock] == [(r['depth'], r['macs']) for r in drop[1:]]
    text = out.read_text()
    assert '| block drop (LoRA merged) | 2 | 2 |' in text and 'MLP-width pruning' in text
    assert 'stock ViT built at that depth: depth 3: ' in text


def test_merged_lora_leaves_a_plain_encoder(load_tool):
    import torch
    tool = load_tool('analysis_tools/benchmark_block_drop')
    args = tool.parse_args(['--embed-dims', '32', '--depth', '3', '--num-heads', '2',
                            '--frames', '4', '--size', '32'])
    enc = tool.build(args, depth_drop=1)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc = tool.merged_lora(enc, 8)
    after = enc.state_dict()
    assert not has_lora(enc) and set(after) == set(before)
    assert not torch.equal(after['blocks.0.attn.qkv.weight'], before['blocks.0.attn.qkv.weight'])
