class C(__import__('base').B, metaclass=__import__('meta').M):
    import inner