"""Pixels in and out, checkpoints, snapshots, template files."""
