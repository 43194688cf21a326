"""Stage 2, media: probe each item, plan its chunks, decode video frames and audio exactly.

``probe``  streams, durations and the media clock's origin of a container
``video``  PTS-exact sampled video decoding of one chunk
``audio``  16 kHz mono audio on the media clock
``plan``   chunk plans and decode tasks of an item
``beam``   PlanItems (probe + transcript + chunks) and DecodeTasks
"""
