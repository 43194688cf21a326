"""Reusable PTransforms of mmfuse and their pure cores (decoding, transcripts, features,
alignment, analyzers, sinks). Each module holds one concept; see README for the data flow."""
