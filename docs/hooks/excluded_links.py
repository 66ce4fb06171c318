"""mkdocs hook: a link to a page the build excludes (`exclude_docs`) is a warning, so `mkdocs build --strict` fails.

mkdocs logs such a link at INFO at most, whatever mkdocs.yml's `validation` says
(mkdocs.structure.pages), so a page can link to one that is never built and
the strict build still passes. This raises that one message to a warning.
"""

import logging

EXCLUDED = "which is excluded from the built site"


class _Raise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and EXCLUDED in record.getMessage():
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def on_startup(command, dirty):
    logger = logging.getLogger("mkdocs.structure.pages")
    if not any(isinstance(f, _Raise) for f in logger.filters):
        logger.addFilter(_Raise())
    if logger.getEffectiveLevel() > logging.INFO:  # `mkdocs build -q` would drop the message before the filter
        logger.setLevel(logging.INFO)
