@__import__('cdeco').d
class C:
    import inner2