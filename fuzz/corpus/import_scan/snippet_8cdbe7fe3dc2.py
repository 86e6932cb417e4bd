class C(__import__('b1').B):
    x = __import__('cb')


# comment
    y = 1
import tail