"""Detection: parse what Microsoft pushes or returns, normalize it into records, and decide kinds.

The one classifier (:mod:`shared.detect.classify`) decides every kind; normalizers never do.
Depends only on :mod:`shared.core`.
"""
