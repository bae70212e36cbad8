"""The image kernels of the vision transforms, now in :mod:`mxrs._imgproc` (shared with
``mx.image`` and ``mx.nd.image``); re-exported here under their old module name."""

from mxrs._imgproc import *  # noqa: F401,F403
