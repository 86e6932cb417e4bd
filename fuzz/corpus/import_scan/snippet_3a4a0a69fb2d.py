import \
  cont