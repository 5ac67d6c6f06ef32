"""A mark's blend model and recovery, where it sits (placement, verify), tiled copies, leftovers."""
