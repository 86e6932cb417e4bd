@__import__('x1').d
@__import__('x2').d
def f(): import body
import nxt