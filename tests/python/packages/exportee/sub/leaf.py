from ..consts import ORIGIN

LEAF = ("leaf", ORIGIN)
