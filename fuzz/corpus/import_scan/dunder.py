x = __import__('a.b.c')
__import__('m', globals(), locals(), ['o', '*'], 1)
__import__('r', fromlist=('z',), level=2)
getattr(__import__('n'), 'k')
