# Packaged code may import through __import__; the exporter must follow
# constant names and ignore what it cannot resolve.
util = __import__("exportee.util", globals(), locals(), ["scale"])


def load_by_name(name):
    return __import__(name)


def unresolvable():
    return __import__("exportee.does_not_exist_" + str(1))


RESULT = util.scale(21)
