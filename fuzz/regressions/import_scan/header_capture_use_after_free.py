def f() -> x
 def g(x=__import__('a')):
