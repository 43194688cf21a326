"""Media with known content, made in code: for the demo, the tests and the benchmarks.

White flashes in the picture and tone bursts in the sound mark instants that every later stage
(decode, windows, offsets) must put at the right time; subtitles, speech and stories of shots
come with their truth. Nothing here is used on real inputs.
"""

from mmfuse.testing.media import Event, SyntheticSpec, make_media
from mmfuse.testing.samples import make_sample_set
from mmfuse.testing.speech import make_speech
from mmfuse.testing.stories import CONCEPTS, make_story, make_story_set, narrate, score_story_set
from mmfuse.testing.subtitles import write_srt, write_vtt, write_whisper_json

__all__ = [
    "CONCEPTS",
    "Event",
    "SyntheticSpec",
    "make_media",
    "make_sample_set",
    "make_speech",
    "make_story",
    "make_story_set",
    "narrate",
    "score_story_set",
    "write_srt",
    "write_vtt",
    "write_whisper_json",
]
