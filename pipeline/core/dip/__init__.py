"""The network and its fit: the skip encoder-decoder, one crop's fit loop, a stack at once."""
