@__import__('deco').wrap
def f():
    \
import body