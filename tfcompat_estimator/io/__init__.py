"""Internal: reading and writing model_dir files (checkpoints, event files), safe paths and file errors.

Not part of the public API; import from `tfcompat_estimator` instead.
"""
