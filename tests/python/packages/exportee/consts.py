ORIGIN = (0, 0)
