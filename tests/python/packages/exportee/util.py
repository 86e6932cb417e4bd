import json


def scale(value, factor=2):
    return value * factor


def describe(obj):
    return json.dumps(obj, sort_keys=True)
