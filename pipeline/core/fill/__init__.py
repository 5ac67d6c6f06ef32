"""Inpainting: where to work (regions), crops in and out (restore), the fills and their aids."""
