if True:
    @__import__('deep').d
    def f():
        import inside_deep
import outside