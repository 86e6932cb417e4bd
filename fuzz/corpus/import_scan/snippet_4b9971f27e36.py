@__import__('deco').wrap
def f(a: __import__('ann') = __import__('dflt')) -> __import__('ret'):
    import body