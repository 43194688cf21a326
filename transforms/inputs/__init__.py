"""Stage 1, inputs: a JSONL manifest or a glob of media files becomes MediaItems.

``listing``  parse and check manifests and globs, ids, sidecar transcripts (no Beam)
``beam``     ReadInputs, ReadManifest, DiscoverVideos
"""
