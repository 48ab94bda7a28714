"""Media out: frames and speech of a turn -> fragmented MP4 (H.264 + AAC) for the browser.

FragmentedMP4Encoder   TTSAudio + frames -> MediaChunk (init segment, then fragments)
AACEncoder             the audio track's encoder (gapless across sentences)
fragment_sizes         how a sentence's frames are cut into fragments
write_mp4              joins a turn's chunks into one playable file
"""

from actors.media.aac import AACEncoder
from actors.media.encoder import FragmentedMP4Encoder
from actors.media.fragments import fragment_sizes, split_frames
from actors.media.mp4mux import write_mp4

__all__ = ["AACEncoder", "FragmentedMP4Encoder", "fragment_sizes", "split_frames", "write_mp4"]
