"""The maths, pure, one room per job: dip, fill, mark, separate, learn."""
