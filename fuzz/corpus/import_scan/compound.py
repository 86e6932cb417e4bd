@__import__('d').w
def f(a: X = __import__('dd'), *, k=1) -> R:
    import body
class C(B, metaclass=M):
    import cls
async def g():
    async with a as b: import aw
match x:
    case 1: import mc
if (n := 1): import walrus
x = 1; import semi
x = {__import__('k'): __import__('v')}
y = a if __import__('t') else b
