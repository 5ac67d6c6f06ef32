"""A mark learnt from a folder: the median estimate, sizes, the anchor, the joint matte."""
