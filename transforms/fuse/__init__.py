"""Stage 7, fuse: every modality on the window grid, one row per item × window, and the
media table (one row per input).

``windows``     which frames, audio and cues belong to each window
``media_rows``  an item's media row and the run's counts
``beam``        FuseWindows, MediaRows
"""
