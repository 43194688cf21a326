"""Alignment of transcripts to audio and of audio to video.

``sync``    subtitle offset and drift from speech activity
``avsync``  audio/video offset from onsets against visual change
``words``   word timings by forced alignment (pocketsphinx, or espeak-ng + DTW)
"""
