def f(*, k: __import__('ka') = __import__('kd'), **kw: __import__('kwa')):
    pass