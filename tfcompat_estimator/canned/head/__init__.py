"""Heads: loss, predictions, metrics and export outputs over logits."""
