def f(a,
      b=(1, 2),
      c=[__import__('deflist')]):
    return __import__('ret_stmt')