"""benchmark_block_drop: MAC bookkeeping of block drop vs equal-MAC MLP-width pruning."""


def test_equal_macs_and_linear_block_cost(load_tool, tmp_path):
    tool = load_tool('analysis_tools/benchmark_block_drop')
    out = tmp_path / 'bd.md'
    rows = tool.main(['--embed-dims', '32', '--depth', '4', '--num-heads', '2', '--frames', '4',
                      '--size', '32', '--max-drops', '2', '--rounds', '1', '--out', str(out)])
    drop = [r for r in rows if r['method'] == 'block drop']
    mlp = [r for r in rows if r['method'] != 'block drop']
    assert [r['depth'] for r in drop] == [4, 3, 2]
    # identical blocks: every drop removes the same MACs
    assert drop[0]['macs'] - drop[1]['macs'] == drop[1]['macs'] - drop[2]['macs'] > 0
    for d, m in zip(drop[1:], mlp):  # the MLP-pruned model matches within a width step of 8
        assert m['depth'] == 4 and m['width'] < 128
        assert abs(m['macs'] - d['macs']) / d['macs'] < 0.05
    text = out.read_text()
    assert '| block drop | 2 | 2 |' in text and 'MLP-width pruning' in text
