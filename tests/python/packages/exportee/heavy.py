"""Stands in for a dependency a package wants to mock out."""


class Engine:
    pass


def run():
    return "ran"
