"""Runtime of mocked modules, shipped in every archive that mocks something.

A mocked module's stub answers every attribute lookup with a MockedObject.
Holding or passing one around is fine; using it (calling, comparing,
iterating, hashing, ...) raises NotImplementedError naming the object, so a
package that really needed the mocked code fails loudly at the point of use.

This file is copied verbatim into archives as the top-level module `_mock`,
so it must stay self-contained.
"""

# Every special method a program may reach for; each one refuses.
_REFUSED_METHODS = (
    "__abs__ __add__ __and__ __bool__ __bytes__ __call__ __ceil__ __cmp__ "
    "__complex__ __contains__ __copy__ __deepcopy__ __delattr__ __delitem__ "
    "__dir__ __div__ __divmod__ __enter__ __eq__ __exit__ __float__ "
    "__floor__ __floordiv__ __ge__ __getattr__ __getitem__ __getstate__ "
    "__gt__ __hash__ __hex__ __iadd__ __iand__ __idiv__ __ifloordiv__ "
    "__ilshift__ __imod__ __imul__ __index__ __instancecheck__ __int__ "
    "__invert__ __ior__ __ipow__ __irshift__ __isub__ __iter__ __itruediv__ "
    "__ixor__ __le__ __len__ __long__ __lshift__ __lt__ __mod__ __mul__ "
    "__ne__ __neg__ __nonzero__ __oct__ __or__ __pos__ __pow__ __rand__ "
    "__rdivmod__ __reduce__ __reversed__ __rmul__ __round__ __rrshift__ "
    "__rshift__ __setattr__ __setitem__ __sizeof__ __sub__ "
    "__subclasscheck__ __truediv__ __trunc__ __unicode__ __xor__"
).split()


class MockedObject:
    """Stand-in for anything looked up on a mocked module."""

    def __new__(cls, *args, **kwargs):
        # Only the stubs pass _suppress_err; anything else constructing one
        # (typically unpickling an object that held a mocked value) is a use.
        if not kwargs.get("_suppress_err"):
            name = args[0] if args else kwargs.get("name", "?")
            raise NotImplementedError(
                f"Object '{name}' was mocked out during packaging but it is "
                "being used in '__new__'. If this error is happening during "
                "'load_pickle', please ensure that your pickled object "
                "doesn't contain any mocked objects."
            )
        return super().__new__(cls)

    def __init__(self, name: str, _suppress_err: bool):
        # __setattr__ refuses, so write the dict directly.
        self.__dict__["_name"] = name

    def __repr__(self):
        return f"MockedObject({self._name})"


def _refuse(method_name):
    def refused(self, *args, **kwargs):
        raise NotImplementedError(
            f"Object '{self._name}' was mocked out during packaging but it "
            f"is being used in {method_name}"
        )

    refused.__name__ = method_name
    return refused


for _method in _REFUSED_METHODS:
    setattr(MockedObject, _method, _refuse(_method))
del _method
