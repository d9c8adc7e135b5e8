"""Internal: TF1 model graphs captured and run as TF2 functions.

Graph capture, pruning, sparse lookups, compiled loops, batch checks, the
input pipeline and distribution. Not part of the public API.
"""
