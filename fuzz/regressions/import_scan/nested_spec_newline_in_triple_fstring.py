def f():
    x = f'''{a:{b:c
d}}'''
    import after_spec
