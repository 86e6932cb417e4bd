def f(a=2 * __import__('mul'), b=__import__('b')):
    pass