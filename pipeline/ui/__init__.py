"""What a person sees: the console and the live board."""
