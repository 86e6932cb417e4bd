class C:
    import cls_attr
    def m(self):
        import meth