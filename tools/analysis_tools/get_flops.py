"""FLOPs and parameters of the model of any config, as mmaction2's ``get_flops.py``.

Run::

    python tools/analysis_tools/get_flops.py \
        configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py
    python tools/analysis_tools/get_flops.py \
        configs/a3d/slowonly_tiny_1xb16-8x2x1-16e_synthetic-clips-rgb.py \
        --shape 1 1 3 16 64 64 --mode predict

The model is built on the CPU in eval mode and one forward pass on a zero input is traced by
mmengine's counters (``FlopAnalyzer``, ``ActivationAnalyzer``, ``parameter_count``: what
``mmengine.analysis.get_model_complexity_info`` runs, composed here to add a handle for
``aten::lstm``, which mmengine does not count and which ETAD's neck is made of). FLOPs are
fvcore's: one fused multiply-add counts as one.

``--mode tensor`` (default) counts ``model(inputs, mode='tensor')``: a recognizer's backbone
(+ neck), as mmaction2's tool; ETAD's [backbone +] neck + boundary head. ``--mode predict``
counts the whole inference pass ``model(inputs, data_samples, mode='predict')``: for ETAD also
the cascade proposal head on every valid proposal and the video-level class head.

The default input shape comes from the config (``--shape`` overrides it, every dimension given,
batch first): ETAD on features ``(1, neck.in_channels, proposal_sampler.temporal_dim)``; ETAD
on raw video ``(1, temporal_dim, 3, clip_len, crop, crop)``; a 3D recognizer
``(1, 1, 3, clip_len, crop, crop)``, ``clip_len`` and ``crop`` read from the test pipeline.
"""
import argparse
from collections import Counter
from typing import Any, List, Sequence, Tuple

import torch
from mmaction.structures import ActionDataSample
from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import get_shape
from mmengine.analysis.print_helper import _format_size, complexity_stats_table
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.structures import BaseDataElement

import mmtad_ext  # noqa: F401  (registers modules, applies compat, enables mmtad_ext:: configs)
from mmtad_ext.registry import MODELS

MODES = ('tensor', 'predict')


def parse_args():
    parser = argparse.ArgumentParser(description='FLOPs and parameters of a model (mmtad-ext)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+',
                        help='full input shape, batch first, e.g. 1 64 128 for (B, C, T) '
                        'features or 1 1 3 8 224 224 for (B, clips, C, T, H, W); default: '
                        'derived from the config')
    parser.add_argument('--mode', choices=MODES, default='tensor',
                        help="'tensor': model(inputs, mode='tensor') (mmaction2's convention); "
                        "'predict': the whole inference pass, e.g. ETAD's proposal head")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs, e.g. model.neck.channels=256')
    return parser.parse_args()


def lstm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::lstm`` (multiply-adds of the four gates, every step and direction).

    Per layer and direction, each time step computes ``W_ih x + W_hh h`` for the four gates:
    ``4 * H * (I + H)`` multiply-adds, ``I`` the layer's input width (``H * directions`` after
    the first layer). Element-wise gate arithmetic is not counted, as for every other op.
    """
    # aten::lstm(input, hx[], params[], has_biases, num_layers, dropout, train,
    #            bidirectional, batch_first)
    shape = get_shape(inputs[0])
    num_layers = inputs[4].toIValue()
    directions = 2 if inputs[7].toIValue() else 1
    batch_first = inputs[8].toIValue()
    cell_state = list(inputs[1].node().inputs())[1]  # c0: (layers * directions, B, H)
    hidden = get_shape(cell_state)[-1]
    steps, batch = (shape[1], shape[0]) if batch_first else (shape[0], shape[1])
    flops = 0
    for layer in range(num_layers):
        width = shape[2] if layer == 0 else hidden * directions
        flops += directions * 4 * hidden * (width + hidden)
    return steps * batch * flops


def _test_pipeline(cfg: Config) -> list:
    if cfg.get('test_pipeline') is not None:
        return list(cfg.test_pipeline)
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset['dataset']
    return list(dataset.get('pipeline', []))


def _clip_and_crop(cfg: Config) -> Tuple[int, int, int]:
    """``(clip_len, height, width)`` of one test clip, from the test pipeline.

    The frames per clip come from ``SampleFrames`` / ``DecodeTADSnippets`` ``clip_len``; the
    size from the last crop (``crop_size``) or, without a crop, a fixed-size ``Resize``.
    """
    clip_len, size = None, None
    for step in _test_pipeline(cfg):
        if 'clip_len' in step:
            clip_len = int(step['clip_len'])
        if 'crop_size' in step:
            crop = step['crop_size']
            size = (crop, crop) if isinstance(crop, int) else tuple(crop)[::-1]  # (w, h)
        elif step.get('type', '').endswith('Resize') and 'scale' in step:
            scale = step['scale']
            if not isinstance(scale, int) and min(scale) > 0 and not step.get('keep_ratio'):
                size = tuple(scale)  # (w, h), mmcv's order
    if clip_len is None or size is None:
        raise ValueError('cannot derive the clip length and size from the test pipeline '
                         f'({[s.get("type") for s in _test_pipeline(cfg)]}); give --shape')
    return clip_len, int(size[1]), int(size[0])


def default_input_shape(cfg: Config) -> Tuple[int, ...]:
    """The input shape of one test sample, batch first (see the module docstring)."""
    model = cfg.model
    if 'proposal_sampler' in model and 'neck' in model:  # ETAD-like TAD detector
        temporal_dim = int(model.proposal_sampler.temporal_dim)
        if model.get('backbone') is None:
            return (1, int(model.neck.in_channels), temporal_dim)  # (B, C, T) features
        clip_len, h, w = _clip_and_crop(cfg)
        return (1, temporal_dim, 3, clip_len, h, w)  # (B, N snippets, C, T, H, W)
    clip_len, h, w = _clip_and_crop(cfg)
    return (1, 1, 3, clip_len, h, w)  # (B, clips, C, T, H, W)


class _Forward(torch.nn.Module):
    """``model`` called in one of :data:`MODES`, returning only tensors (for the tracer)."""

    def __init__(self, model: torch.nn.Module, mode: str):
        super().__init__()
        self.model = model
        self.mode = mode

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.mode == 'tensor':
            return tuple(_tensors(self.model(inputs, mode='tensor')))
        samples = [ActionDataSample(metainfo=dict(  # what TAD predictions are scaled with
            video_name=f'flops_{i}', duration=1.0, window_start=0.0, window_duration=1.0))
            for i in range(inputs.shape[0])]
        return tuple(_tensors(self.model(inputs, samples, mode='predict')))


def _tensors(out: Any) -> List[torch.Tensor]:
    """Every tensor in a (nested) model output."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, BaseDataElement):
        out = out.to_dict()
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []


def complexity(model: torch.nn.Module, input_shape: Sequence[int], mode: str = 'tensor') -> dict:
    """Count FLOPs, activations and parameters of one forward pass.

    Args:
        model (nn.Module): The model, in eval mode.
        input_shape (Sequence[int]): Full input shape, batch first.
        mode (str): One of :data:`MODES`. Defaults to ``'tensor'``.

    Returns:
        dict: ``flops``, ``activations``, ``params`` (int), ``table`` (str, per module),
        ``flops_by_module`` (Counter), ``unsupported_ops`` (Counter of op names not counted)
        and ``uncalled`` (sorted names of parameterised top-level-most submodules the pass
        did not run, so not counted).
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    wrapped = _Forward(model, mode)
    inputs = (torch.zeros(tuple(input_shape)), )
    flops = FlopAnalyzer(wrapped, inputs).set_op_handle('aten::lstm', lstm_flop_jit)
    activations = ActivationAnalyzer(wrapped, inputs)
    for analyzer in (flops, activations):
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        total = flops.total()
        table = complexity_stats_table(flops=flops, activations=activations,
                                       show_param_shapes=True)
    uncalled = {n for n in flops.uncalled_modules()
                if any(True for _ in wrapped.get_submodule(n).parameters())}
    outermost = sorted(n for n in uncalled
                       if not any(n.startswith(p + '.') for p in uncalled if p != n))
    return dict(flops=total, activations=activations.total(),
                params=parameter_count(model)[''], table=table,
                flops_by_module=Counter({k.replace('model.', '', 1): v
                                         for k, v in flops.by_module().items()}),
                unsupported_ops=flops.unsupported_ops(),
                uncalled=[n.replace('model.', '', 1) for n in outermost])


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    input_shape = tuple(args.shape) if args.shape else default_input_shape(cfg)
    model = MODELS.build(cfg.model)
    model.eval()
    res = complexity(model, input_shape, args.mode)
    print(res['table'])
    line = '=' * 60
    print(f'\n{line}\nConfig: {args.config}\nInput shape: {input_shape}\n'
          f"Mode: {args.mode}\nFLOPs: {_format_size(res['flops'])} ({res['flops']})\n"
          f"Params: {_format_size(res['params'])} ({res['params']})\n"
          f"Activations: {_format_size(res['activations'])}")
    if res['uncalled']:
        print(f"Not run in mode '{args.mode}' (not counted): {', '.join(res['uncalled'])}")
    if res['unsupported_ops']:
        ops = ', '.join(f'{k} x{v}' for k, v in sorted(res['unsupported_ops'].items()))
        print(f'Ops without a FLOP counter (not counted): {ops}')
    print(line)
    print('Check that every op you care about is counted before quoting these numbers.')


if __name__ == '__main__':
    main()
