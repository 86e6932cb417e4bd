def f():
    import inside
    def g():
        from deep import er