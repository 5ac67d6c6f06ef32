"""The maths, pure: the network, the fit loop, regions, fills, placement."""
