"""Internal: one call of train, evaluate, predict or export.

Each run receives what it needs (model_dir, config, params, the model
graphs) and drives the engine and the session emulation. Not part of the
public API.
"""
