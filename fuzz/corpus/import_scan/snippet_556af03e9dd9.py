@decorator(__import__('in_deco_call'))
def f():
    pass