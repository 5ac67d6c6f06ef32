"""A translucent mark found inside a painted mask: the route, the cover, the edge fit."""
