"""Find the modules a callable uses by running it."""

import sys
from typing import Any, Callable, Iterable, List, Tuple

__all__ = ["trace_dependencies"]


def trace_dependencies(callable: Callable[..., Any],
                       inputs: Iterable[Tuple[Any, ...]]) -> List[str]:
    """Calls `callable(*args)` for each args tuple of `inputs` and returns the
    `__module__` of every Python function called meanwhile (unordered).

    A called function is identified by its code name, looked up in the
    frame's globals, then locals, then as a method of a `self` local; calls
    that cannot be identified that way are not reported.
    """
    modules = set()

    def on_event(frame, event, arg):
        if event != "call":
            return
        name = frame.f_code.co_name
        module = None
        if name in frame.f_globals:
            module = getattr(frame.f_globals[name], "__module__", None)
        elif name in frame.f_locals:
            module = getattr(frame.f_locals[name], "__module__", None)
        elif "self" in frame.f_locals:
            method = getattr(frame.f_locals["self"], name, None)
            module = getattr(method, "__module__", None)
        if module:
            modules.add(module)

    previous = sys.getprofile()
    sys.setprofile(on_event)
    try:
        for args in inputs:
            callable(*args)
    finally:
        sys.setprofile(previous)
    return list(modules)
