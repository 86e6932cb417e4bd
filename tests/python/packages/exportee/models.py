from . import consts
from .util import scale


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def scaled(self):
        return Point(scale(self.x), scale(self.y))

    def is_origin(self):
        return (self.x, self.y) == consts.ORIGIN

    def __eq__(self, other):
        return (type(other).__name__ == "Point" and
                (self.x, self.y) == (other.x, other.y))

    class Nested:
        def __init__(self, value):
            self.value = value

        def __eq__(self, other):
            return type(other).__name__ == "Nested" and self.value == other.value


def make_points(n):
    return [Point(i, -i) for i in range(n)]
