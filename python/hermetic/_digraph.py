"""torch.package's DiGraph API: structure in C++ (_core.DiGraph), node
attributes in a Python dict because they hold arbitrary Python values.

Nodes are any hashable objects, kept in first-insertion order, as in torch.
The C++ graph names its nodes with strings: a str node is its own name;
any other node (and a str starting with NUL, which no module name does) is
given a private name "\0<k>" that never leaves this class. Unlike torch,
the closures and all_paths treat `src` as one node (torch iterates its
characters, and fails on a node that is not iterable). An unknown node is
the core graph's one error: InvalidArgumentError, a ValueError as in torch.
"""

from typing import Any, Dict, Hashable, Iterator, List, Set, Tuple

from . import _core

__all__ = ["DiGraph"]


class DiGraph:
    """Insertion-ordered directed graph with per-node attributes."""

    def __init__(self):
        self._graph = _core.DiGraph()
        self._node = {}
        # Nodes with a private name, both ways.
        self._names = {}
        self._objects = {}

    def _name(self, n, add=False):
        """The C++ graph's name of node n. An unknown n that is not a
        plain str is passed through as itself: the graph then raises its
        unknown-node error with str(n)."""
        if type(n) is str and not n.startswith("\0"):
            return n
        name = self._names.get(n)  # TypeError for an unhashable n, as torch
        if name is None and add:
            name = f"\0{len(self._names)}"
            self._names[n] = name
            self._objects[name] = n
        return n if name is None else name

    def _nodes_of(self, names):
        if not self._objects:
            return names
        return [self._objects.get(name, name) for name in names]

    @classmethod
    def _from_core(cls, graph, attributes=None) -> "DiGraph":
        """Wraps a _core.DiGraph; `attributes` are the nodes' attribute
        dicts in node order (empty dicts if None)."""
        result = cls()
        result._graph = graph
        names = graph.nodes()
        if attributes is None:
            attributes = [{} for _ in names]
        result._node = dict(zip(names, attributes))
        return result

    def add_node(self, n: Hashable, **kwargs: Any) -> None:
        """Adds n if new, then merges kwargs into its attributes."""
        attrs = self._node.get(n)
        if attrs is None:
            self._graph.add_node(self._name(n, add=True))
            attrs = self._node[n] = {}
        attrs.update(kwargs)

    def add_edge(self, u: Hashable, v: Hashable) -> None:
        """Adds the edge u -> v, adding missing nodes first."""
        self.add_node(u)
        self.add_node(v)
        self._graph.add_edge(self._name(u), self._name(v))

    def successors(self, n: Hashable) -> Iterator[Hashable]:
        return iter(self._nodes_of(self._graph.successors(self._name(n))))

    def predecessors(self, n: Hashable) -> Iterator[Hashable]:
        return iter(self._nodes_of(self._graph.predecessors(self._name(n))))

    @property
    def edges(self) -> Iterator[Tuple[Hashable, Hashable]]:
        """(u, v) pairs in node order, then successor order."""
        edges = self._graph.edges()
        if self._objects:
            get = self._objects.get
            edges = [(get(u, u), get(v, v)) for u, v in edges]
        return iter(edges)

    @property
    def nodes(self) -> Dict[Hashable, Dict[str, Any]]:
        """Node name -> attribute dict, in insertion order."""
        return self._node

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def __contains__(self, n: object) -> bool:
        try:
            return n in self._node
        except TypeError:
            return False

    def forward_transitive_closure(self, src: Hashable) -> Set[Hashable]:
        """Every node reachable from src, including src."""
        reached = self._graph.forward_transitive_closure(self._name(src))
        return {src, *self._nodes_of(reached)}

    def backward_transitive_closure(self, src: Hashable) -> Set[Hashable]:
        """Every node from which src is reachable, including src."""
        reached = self._graph.backward_transitive_closure(self._name(src))
        return {src, *self._nodes_of(reached)}

    def all_paths(self, src: Hashable, dst: Hashable) -> str:
        """DOT text of the subgraph of all paths from src to dst."""
        return self._labelled(self._graph.all_paths_dot(self._name(src), self._name(dst)))

    def first_path(self, dst: Hashable) -> List[Hashable]:
        """A path root -> dst that always follows the earliest-added
        predecessor."""
        return self._nodes_of(self._graph.first_path(self._name(dst)))

    def to_dot(self) -> str:
        """DOT text; each node is shown as str(node), as torch shows it."""
        return self._labelled(self._graph.to_dot())

    def _labelled(self, dot: str) -> str:
        # Private names appear in DOT only as quoted node ids.
        for name, node in self._objects.items():
            dot = dot.replace(f'"{name}"', f'"{node}"')
        return dot
