"""Stage align: transcripts to audio, audio to video, cues to shots.

``sync``      subtitle offset and drift from speech activity
``avsync``    audio/video offset from onsets against visual change
``words``     word timings for timed cues and untimed text
``acoustic``  pocketsphinx's acoustic model: forced alignment, the prefix-grammar walk, scores
``tts``       espeak-ng: synthetic speech and DTW, phonemes for words outside the dictionary
``speech``    the item's audio on a 10 ms grid; ``xcorr`` cross-correlation
``shots``     cuts on every frame; ``semantic`` the text/picture space and cue-to-shot placement
``beam``      AlignItems, ItemShots, AlignByContent
"""
