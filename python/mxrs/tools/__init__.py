"""Command-line tools (``python -m mxrs.tools.im2rec``)."""
