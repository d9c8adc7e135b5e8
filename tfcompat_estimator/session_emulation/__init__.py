"""Internal: the session world legacy code expects, emulated on TF2 functions.

The emulated session hooks see, the hook runner, the hooked step and the
schedule of hooks whose steps are predictable. Not part of the public API.
"""
