from .leaf import LEAF
