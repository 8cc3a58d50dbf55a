"""Deterministic synthetic video patterns: the shared clip renderer of mmtad-ext.

Used by the A3D clip-classification task (``tools/make_synthetic_clips.py``) and reusable for
temporal action detection videos (paste :func:`render_clip` segments into
:func:`render_background` frames). Everything is a pure function of its arguments and of an
explicit ``numpy.random.Generator``: the same seed gives the same pixels.

Stable API (keep it backward compatible):

``render_clip(class_id, num_frames, size, rng, num_classes=NUM_PATTERNS, background=None)``
    ``(num_frames, size, size, 3)`` uint8 RGB frames showing pattern ``class_id`` over a textured
    background (a fresh one from :func:`render_background`, or the ``background`` frames given,
    e.g. a slice of a long TAD video, so that segment boundaries are seamless).
``render_background(num_frames, size, rng)``
    ``(num_frames, size, size, 3)`` uint8 frames of slowly drifting textured noise without any
    pattern (the "no action" class of TAD videos).
``write_video(path, frames, fps=25, codec='libx264')``
    Encode ``(T, H, W, 3)`` uint8 RGB frames as an mp4 with PyAV (``libx264``/``h264`` or
    ``mpeg4``); the files decode with decord and PyAV.
``PATTERN_NAMES``
    The ``NUM_PATTERNS`` (= 10) class names, index = ``class_id``.

Classes (``class_id``: motion, appearance). Pairs share their appearance and differ only in
motion, so a single frame cannot separate them and the temporal dimension matters:

====  ==================  ==========================================================
id    name                content
====  ==================  ==========================================================
0     square_right        red square translating left -> right
1     square_left         red square translating right -> left (same look as 0)
2     square_down         green square translating top -> bottom
3     square_up           green square translating bottom -> top (same look as 2)
4     disc_blink          blue disc blinking on/off every few frames
5     disc_static         blue disc, still (same look as 4 when lit)
6     bar_cw              yellow bar rotating clockwise
7     bar_ccw             yellow bar rotating counter-clockwise (same look as 6)
8     ring_expand         magenta ring growing
9     ring_shrink         magenta ring shrinking (same look as 8)
====  ==================  ==========================================================

Random nuisance per clip: start position, speed (+-25 %), object size, colour jitter, blink
phase, rotation start angle, background texture and per-pixel Gaussian noise.
"""
import os
import os.path as osp
from fractions import Fraction
from typing import Optional, Union

import numpy as np

PATTERN_NAMES = ('square_right', 'square_left', 'square_down', 'square_up', 'disc_blink',
                 'disc_static', 'bar_cw', 'bar_ccw', 'ring_expand', 'ring_shrink')
NUM_PATTERNS = len(PATTERN_NAMES)

_COLOURS = {  # RGB base colour per pattern family
    'square_h': (220, 50, 50),
    'square_v': (50, 200, 60),
    'disc': (60, 90, 230),
    'bar': (230, 210, 40),
    'ring': (210, 60, 210),
}


def _check_clip_args(num_frames: int, size: int) -> None:
    if int(num_frames) < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    if int(size) < 16:
        raise ValueError(f'size must be >= 16 pixels, got {size}')


def render_background(num_frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Render slowly drifting textured noise (no pattern).

    A low-resolution random texture is upsampled to ``size`` and shifted by a random drift of at
    most one pixel per frame; per-pixel Gaussian noise (std 6) is added to every frame.

    Args:
        num_frames (int): Number of frames T.
        size (int): Height and width S of the square frames.
        rng (np.random.Generator): Source of all randomness.

    Returns:
        np.ndarray: ``(T, S, S, 3)`` uint8 RGB frames.
    """
    _check_clip_args(num_frames, size)
    cells = 8
    coarse = rng.uniform(40, 120, size=(cells + 1, cells + 1, 3))  # (c+1, c+1, 3)
    tint = rng.uniform(0.8, 1.2, size=3)
    drift = rng.uniform(-1.0, 1.0, size=2)  # pixels per frame (dy, dx)
    frames = np.empty((num_frames, size, size, 3), dtype=np.float32)
    grid = np.arange(size, dtype=np.float32)
    for t in range(num_frames):
        # bilinear sample of the coarse texture at drifting coordinates (wraps around)
        ys = ((grid + drift[0] * t) % size) * cells / size  # (S,)
        xs = ((grid + drift[1] * t) % size) * cells / size
        y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
        wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
        c00 = coarse[y0][:, x0]  # (S, S, 3)
        c01 = coarse[y0][:, x0 + 1]
        c10 = coarse[y0 + 1][:, x0]
        c11 = coarse[y0 + 1][:, x0 + 1]
        frames[t] = ((1 - wy) * ((1 - wx) * c00 + wx * c01) + wy * ((1 - wx) * c10 + wx * c11))
    frames *= tint
    frames += rng.normal(0.0, 6.0, size=frames.shape).astype(np.float32)
    return np.clip(frames, 0, 255).astype(np.uint8)


def _jitter(rng: np.random.Generator, family: str) -> np.ndarray:
    return np.clip(np.asarray(_COLOURS[family], np.float32) + rng.normal(0, 12, 3), 0, 255)


def _masks(class_id: int, num_frames: int, size: int, rng: np.random.Generator) -> tuple:
    """Per-frame object masks ``(T, S, S)`` in [0, 1] and the object colour ``(3,)``."""
    name = PATTERN_NAMES[class_id]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)  # (S, S) each
    t = np.arange(num_frames, dtype=np.float32)
    speed = rng.uniform(0.75, 1.25)
    masks = np.zeros((num_frames, size, size), dtype=np.float32)
    if name.startswith('square'):
        side = rng.uniform(0.16, 0.24) * size
        travel = 0.45 * size * speed  # total displacement over the clip
        step = travel / max(num_frames - 1, 1)
        lo, hi = side / 2 + 1, size - side / 2 - 1
        sign = 1.0 if name in ('square_right', 'square_down') else -1.0
        along0 = rng.uniform(lo, hi - travel) if sign > 0 else rng.uniform(lo + travel, hi)
        across = rng.uniform(lo, hi)
        along = along0 + sign * step * t  # (T,)
        horizontal = name in ('square_right', 'square_left')
        cx = along if horizontal else np.full_like(t, across)
        cy = np.full_like(t, across) if horizontal else along
        for i in range(num_frames):
            masks[i] = ((np.abs(xx - cx[i]) <= side / 2) & (np.abs(yy - cy[i]) <= side / 2))
        colour = _jitter(rng, 'square_h' if horizontal else 'square_v')
    elif name.startswith('disc'):
        radius = rng.uniform(0.1, 0.15) * size
        cy, cx = rng.uniform(radius + 1, size - radius - 1, size=2)
        disc = ((yy - cy)**2 + (xx - cx)**2 <= radius**2).astype(np.float32)
        if name == 'disc_blink':
            period = int(rng.integers(2, 4))  # frames on, then as many off
            phase = int(rng.integers(0, 2 * period))
            on = ((t.astype(int) + phase) // period) % 2 == 0
        else:
            on = np.ones(num_frames, dtype=bool)
        masks[:] = disc[None] * on[:, None, None]
        colour = _jitter(rng, 'disc')
    elif name.startswith('bar'):
        length, width = rng.uniform(0.5, 0.7) * size, rng.uniform(0.06, 0.1) * size
        cy, cx = rng.uniform(0.4, 0.6, size=2) * size
        angle0 = rng.uniform(0, np.pi)
        sign = -1.0 if name == 'bar_cw' else 1.0  # image y points down: cw = decreasing angle
        angles = angle0 + sign * speed * (np.pi / 2) * t / max(num_frames - 1, 1)
        for i in range(num_frames):
            ux, uy = np.cos(angles[i]), -np.sin(angles[i])
            along = (xx - cx) * ux + (yy - cy) * uy
            across = -(xx - cx) * uy + (yy - cy) * ux
            masks[i] = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
        colour = _jitter(rng, 'bar')
    else:  # rings
        cy, cx = rng.uniform(0.4, 0.6, size=2) * size
        r_small, r_big = rng.uniform(0.06, 0.1) * size, rng.uniform(0.3, 0.38) * size
        thick = rng.uniform(0.04, 0.06) * size
        frac = t / max(num_frames - 1, 1)
        radii = r_small + (r_big - r_small) * (frac if name == 'ring_expand' else 1 - frac)
        dist = np.sqrt((yy - cy)**2 + (xx - cx)**2)
        for i in range(num_frames):
            masks[i] = np.abs(dist - radii[i]) <= thick / 2
        colour = _jitter(rng, 'ring')
    return masks, colour


def render_clip(class_id: int,
                num_frames: int,
                size: int,
                rng: np.random.Generator,
                num_classes: int = NUM_PATTERNS,
                background: Optional[np.ndarray] = None) -> np.ndarray:
    """Render one clip of pattern ``class_id`` (see the module docstring for the classes).

    Args:
        class_id (int): Pattern index in ``[0, num_classes)``.
        num_frames (int): Number of frames T.
        size (int): Height and width S of the square frames (>= 16).
        rng (np.random.Generator): Source of all randomness (nuisance factors and noise).
        num_classes (int): Number of classes of the task; must be <= ``NUM_PATTERNS``. A task
            with K classes uses patterns ``0..K-1``. Defaults to ``NUM_PATTERNS``.
        background (np.ndarray, optional): ``(T, S, S, 3)`` uint8 frames to paint the pattern
            on (e.g. a slice of a :func:`render_background` video). Defaults to None (a fresh
            background is rendered from ``rng``).

    Returns:
        np.ndarray: ``(T, S, S, 3)`` uint8 RGB frames.
    """
    _check_clip_args(num_frames, size)
    if not 1 <= num_classes <= NUM_PATTERNS:
        raise ValueError(f'num_classes must be in [1, {NUM_PATTERNS}], got {num_classes}')
    if not 0 <= class_id < num_classes:
        raise ValueError(f'class_id must be in [0, {num_classes}), got {class_id}')
    if background is None:
        background = render_background(num_frames, size, rng)
    elif background.shape != (num_frames, size, size, 3) or background.dtype != np.uint8:
        raise ValueError(f'background must be uint8 of shape {(num_frames, size, size, 3)}, '
                         f'got {background.dtype} {background.shape}')
    masks, colour = _masks(int(class_id), int(num_frames), int(size), rng)
    masks = masks[..., None]  # (T, S, S, 1)
    obj = colour[None, None, None] + rng.normal(0, 6.0, size=masks.shape[:3] + (3, ))
    frames = (1 - masks) * background.astype(np.float32) + masks * obj
    return np.clip(frames, 0, 255).astype(np.uint8)


def write_video(path: str, frames, fps: Union[int, Fraction] = 25, codec: str = 'libx264',
                crf: int = 18) -> None:
    """Encode RGB frames into an mp4 file with PyAV.

    Args:
        path (str): Output file (``.mp4``); parent folders are created.
        frames (np.ndarray | Iterable[np.ndarray]): ``(T, H, W, 3)`` uint8 RGB frames, or an
            iterable of such chunks (all of one size; a long video is encoded without holding
            all of its frames); H and W must be even (yuv420p).
        fps (int | Fraction): Frame rate, e.g. ``Fraction(30000, 1001)`` for 29.97.
            Defaults to 25.
        codec (str): ``'libx264'`` (alias ``'h264'``) or ``'mpeg4'``. Defaults to ``'libx264'``.
        crf (int): libx264 constant rate factor (higher: smaller files). Defaults to 18.
    """
    import av
    chunks = [frames] if isinstance(frames, np.ndarray) else frames
    try:
        av.codec.Codec(codec, 'w')
    except Exception as e:  # av raises UnknownCodecError (a ValueError subclass) or FFmpegError
        raise ValueError(f'PyAV has no encoder {codec!r} ({e}); use "mpeg4" or "libx264"') from e
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with av.open(path, mode='w') as container:
        stream = None
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if chunk.ndim != 4 or chunk.shape[-1] != 3 or chunk.dtype != np.uint8:
                raise ValueError(
                    f'frames must be uint8 (T, H, W, 3), got {chunk.dtype} {chunk.shape}')
            if chunk.shape[1] % 2 or chunk.shape[2] % 2:
                raise ValueError(
                    f'frame height and width must be even for yuv420p, got {chunk.shape}')
            if stream is None:
                rate = fps if isinstance(fps, Fraction) else int(fps)
                stream = container.add_stream(codec, rate=rate)
                stream.width, stream.height = int(chunk.shape[2]), int(chunk.shape[1])
                stream.pix_fmt = 'yuv420p'
                if codec in ('libx264', 'h264'):
                    stream.options = {'crf': str(int(crf)), 'preset': 'veryfast'}
                else:
                    stream.bit_rate = 4_000_000
            elif chunk.shape[1:3] != (stream.height, stream.width):
                raise ValueError(f'every chunk must be {stream.height}x{stream.width}, got '
                                 f'{chunk.shape[1]}x{chunk.shape[2]}')
            for frame in chunk:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                    container.mux(packet)
        if stream is None:
            raise ValueError(f'write_video: no frame to write to {path}')
        for packet in stream.encode():
            container.mux(packet)
