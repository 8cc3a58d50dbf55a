"""Extract snippet features ``<video>.npy`` (T, C) from raw videos with an mmaction2 model.

Run (one process, then two with torchrun; finished videos are skipped, so a stopped run
resumes)::

    python tools/extract_features.py \
        configs/recognition/slowonly/slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py \
        work_dirs/encoder_pretrain/epoch_20.pth \
        --video-dir data/my_videos --out-dir data/my_features --snippet-len 4 --stride 4
    torchrun --nproc_per_node=2 tools/extract_features.py CONFIG CKPT --video-dir ... \
        --out-dir ...

The snippet grid is the one of ``TADDataset``'s sliding regime for raw videos: snippet ``i`` is
the clip of ``--snippet-len`` frames (``--frame-interval`` apart) centred on frame
``(i + 0.5) * stride``, ``T = ceil(num_frames / stride)``; so the features of a video at ``fps``
frames per second serve a feature config with ``snippet_duration = stride / fps``. Frames go
through ``DecodeTADSnippets`` and then the model config's test transforms after decoding
(Resize, CenterCrop, FormatShape...); the feature of a snippet is the backbone output averaged
over time and space (and over the crops of a multi-crop pipeline). The config is a recognizer
(e.g. ``Recognizer3D``), or a bare 3D backbone (wrapped in ``Recognizer3D`` with the config's
``data_preprocessor``); ``none`` as checkpoint keeps the random initialisation.

Each process (``RANK``/``WORLD_SIZE`` from torchrun) takes the videos ``i % WORLD_SIZE ==
RANK`` of the sorted list. A video that cannot be decoded is reported and skipped; the count is
logged at the end.
"""
import argparse
import os
import os.path as osp
import sys
import time

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

import mmtad_ext  # noqa: F401  (registers modules, applies compat, enables mmtad_ext:: configs)
from mmtad_ext.utils import load_detector_checkpoint, run_cli
from mmtad_ext.utils.errors import DEBUG_HELP
from mmtad_ext.datasets.transforms.video_transforms import probe_video
from mmtad_ext.registry import MODELS

VIDEO_EXTS = ('.mp4', '.mkv', '.avi', '.webm', '.mov', '.m4v')
# transforms of an mmaction2 pipeline that sample, decode or pack: replaced by DecodeTADSnippets
_DROPPED = ('Init', 'Decode', 'SampleFrames', 'PackActionInputs', 'PackTADInputs',
            'DecodeTADSnippets')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Extract snippet features (mmtad-ext)')
    parser.add_argument('config', help='mmaction2 recognizer (or 3D backbone) config')
    parser.add_argument('checkpoint', help='checkpoint file, or "none" for random weights')
    parser.add_argument('--video-dir', required=True, help='folder of videos')
    parser.add_argument('--out-dir', required=True, help='folder of <video>.npy (T, C)')
    parser.add_argument('--ext', nargs='+', default=list(VIDEO_EXTS), help='video extensions')
    parser.add_argument('--snippet-len', type=int, help='frames per snippet (default: the '
                        'config\'s SampleFrames clip_len)')
    parser.add_argument('--frame-interval', type=int, help='frames between the frames of a '
                        'snippet (default: the config\'s SampleFrames frame_interval)')
    parser.add_argument('--stride', type=int, help='frames between snippets (default: '
                        'snippet-len * frame-interval, i.e. adjacent snippets)')
    parser.add_argument('--short-side', type=int, help='let the decoder resize to this short '
                        'side (DecodeTADSnippets short_side)')
    parser.add_argument('--batch-snippets', type=int, default=32,
                        help='snippets decoded and forwarded at a time (bounds the memory)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--debug', action='store_true', help=DEBUG_HELP)
    args = parser.parse_args(argv)
    for name in ('snippet_len', 'frame_interval', 'stride', 'batch_snippets'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def _test_pipeline(cfg: Config) -> list:
    """The pipeline of the test dataset (else ``test_pipeline``)."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    pipeline = loader.get('dataset', {}).get('pipeline') or cfg.get('test_pipeline') or []
    return list(pipeline)


def build_extractor(cfg: Config, checkpoint: str, device: str):
    """The model (a recognizer) and the snippet transforms after decoding."""
    init_default_scope(cfg.get('default_scope', 'mmtad_ext'))
    model_cfg = cfg.model
    if 'Recognizer' not in model_cfg.get('type', ''):  # a bare backbone
        model_cfg = dict(type='Recognizer3D', backbone=model_cfg,
                         data_preprocessor=cfg.get('data_preprocessor',
                                                   dict(type='ActionDataPreprocessor',
                                                        format_shape='NCTHW')))
    model = MODELS.build(model_cfg)
    if checkpoint.lower() == 'none':
        model.init_weights()
    else:
        load_detector_checkpoint(model, checkpoint)
    return model.to(device).eval()


def snippet_settings(cfg: Config, args) -> tuple:
    """``(snippet_len, frame_interval, stride)`` from the arguments, else the config."""
    sample = next((t for t in _test_pipeline(cfg) if 'SampleFrames' in t.get('type', '')), {})
    clip_len = args.snippet_len or sample.get('clip_len', 16)
    interval = args.frame_interval or sample.get('frame_interval', 1)
    return clip_len, interval, args.stride or clip_len * interval


@torch.no_grad()
def extract_video(model, transforms: Compose, path: str, clip_len: int, interval: int,
                  stride: int, batch: int, short_side=None) -> np.ndarray:
    """(T, C) float32 features of one video, ``batch`` snippets decoded at a time."""
    from mmtad_ext.registry import TRANSFORMS
    decode = TRANSFORMS.build(dict(type='DecodeTADSnippets', clip_len=clip_len,
                                   frame_interval=interval, short_side=short_side))
    meta = probe_video(path)
    num = -(-meta['num_frames'] // stride)  # ceil: the TADDataset sliding grid
    video = dict(filename=path, total_frames=meta['num_frames'], height=meta['height'],
                 width=meta['width'], snippet_stride=stride)
    reader = decode.open_reader(video)  # one reader for all the batches of the video
    feats = []
    for w0 in range(0, num, batch):
        n = min(batch, num - w0)
        results = dict(video, temporal_dim=n, window_start_snippet=w0, video_reader=reader)
        imgs = transforms(decode(results))['imgs']  # (crops * n, C, T, H, W) after FormatShape
        data = model.data_preprocessor(
            dict(inputs=[torch.as_tensor(imgs)], data_samples=None), False)  # normalised
        out, _ = model.extract_feat(data['inputs'], stage='backbone')
        outs = out if isinstance(out, (tuple, list)) else [out]  # SlowFast: two pathways
        f = torch.cat([o.flatten(2).mean(-1) for o in outs], dim=1)  # (crops * n, C)
        feats.append(f.reshape(-1, n, f.shape[-1]).mean(0).float().cpu())  # (n, C)
    return torch.cat(feats).numpy()


def save_atomic(path: str, array: np.ndarray) -> None:
    """Write ``path`` through a temporary file, so a killed run leaves no partial .npy."""
    tmp = path + '.part'
    with open(tmp, 'wb') as f:
        np.save(f, array)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    rank, world = int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))
    if not osp.isdir(args.video_dir):
        raise FileNotFoundError(f'--video-dir not found: {args.video_dir}')
    exts = tuple(e.lower() if e.startswith('.') else '.' + e.lower() for e in args.ext)
    videos = sorted(f for f in os.listdir(args.video_dir) if f.lower().endswith(exts))
    mine = videos[rank::world]
    os.makedirs(args.out_dir, exist_ok=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    clip_len, interval, stride = snippet_settings(cfg, args)
    model = build_extractor(cfg, args.checkpoint, args.device)
    transforms = Compose([t for t in _test_pipeline(cfg)
                          if not any(k in t.get('type', '') for k in _DROPPED)])
    print_log(f'rank {rank}/{world}: {len(mine)} of {len(videos)} videos; snippets of '
              f'{clip_len} frames (interval {interval}) every {stride} frames',
              logger='current')
    done = existing = snippets = 0
    failed = []
    bar = ProgressBar(len(mine)) if rank == 0 and not args.no_progress and mine else None
    start = time.perf_counter()
    for name in mine:
        out = osp.join(args.out_dir, osp.splitext(name)[0] + '.npy')
        if osp.isfile(out):
            existing += 1
        else:
            try:
                feat = extract_video(model, transforms, osp.join(args.video_dir, name),
                                     clip_len, interval, stride, args.batch_snippets,
                                     args.short_side)
            except (OSError, ValueError) as e:  # missing, corrupt, truncated
                failed.append(name)
                print_log(f'skipped {name}: {e}', logger='current', level=30)
            else:
                save_atomic(out, feat)
                done += 1
                snippets += feat.shape[0]
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    elapsed = time.perf_counter() - start
    print_log(f'rank {rank}: extracted {done} video(s) ({snippets} snippets, '
              f'{snippets / max(elapsed, 1e-9):.1f} snippets/s), {existing} already done, '
              f'{len(failed)} failed' + (f': {failed}' if failed else ''), logger='current',
              level=30 if failed else 20)
    return dict(done=done, existing=existing, failed=failed, snippets=snippets)


if __name__ == '__main__':
    run_cli(main)
