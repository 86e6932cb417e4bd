@__import__('o1').d
class A:
    @__import__('i1').d
    def m(self) -> __import__('r1'): import b1
    @__import__('i2').d
    async def n(self):
        import b2
    import b3
import after