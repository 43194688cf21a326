"""Entry points of mmfuse: thin command lines over the transforms in ``transforms``."""

import logging


class _QuietOptionalBeamImports(logging.Filter):
    """Beam warns on import when the optional GCP client libraries are absent; that is the
    normal state of a local install (``mmfuse[gcp]`` adds them), so the CLI keeps quiet."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


logging.getLogger().addFilter(_QuietOptionalBeamImports())
