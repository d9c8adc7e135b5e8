"""Internal: the one place this package reaches into TensorFlow's private APIs."""
