"""torch.package's DiGraph API: structure in C++ (_core.DiGraph), node
attributes in a Python dict because they hold arbitrary Python values.

Nodes are strings, kept in first-insertion order. Unlike torch, the closures
and all_paths treat `src` as one node (torch iterates its characters). An
unknown node is the core graph's one error: InvalidArgumentError, a
ValueError as in torch.
"""

from typing import Iterator

from . import _core

__all__ = ["DiGraph"]


class DiGraph:
    """Insertion-ordered directed graph with per-node attributes."""

    def __init__(self):
        self._graph = _core.DiGraph()
        self._node = {}

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

    def add_node(self, n: str, **kwargs) -> None:
        """Adds n if new, then merges kwargs into its attributes."""
        attrs = self._node.get(n)
        if attrs is None:
            self._graph.add_node(n)
            attrs = self._node[n] = {}
        attrs.update(kwargs)

    def add_edge(self, u: str, v: str) -> None:
        """Adds the edge u -> v, adding missing nodes first."""
        self.add_node(u)
        self.add_node(v)
        self._graph.add_edge(u, v)

    def successors(self, n: str) -> Iterator[str]:
        return iter(self._graph.successors(n))

    def predecessors(self, n: str) -> Iterator[str]:
        return iter(self._graph.predecessors(n))

    @property
    def edges(self) -> Iterator[tuple]:
        """(u, v) pairs in node order, then successor order."""
        return iter(self._graph.edges())

    @property
    def nodes(self) -> dict:
        """Node name -> attribute dict, in insertion order."""
        return self._node

    def __iter__(self) -> Iterator[str]:
        return iter(self._node)

    def __len__(self) -> int:
        return len(self._node)

    def __contains__(self, n) -> bool:
        try:
            return n in self._node
        except TypeError:
            return False

    def forward_transitive_closure(self, src: str) -> set:
        """Every node reachable from src, including src."""
        return {src, *self._graph.forward_transitive_closure(src)}

    def backward_transitive_closure(self, src: str) -> set:
        """Every node from which src is reachable, including src."""
        return {src, *self._graph.backward_transitive_closure(src)}

    def all_paths(self, src: str, dst: str) -> str:
        """DOT text of the subgraph of all paths from src to dst."""
        return self._graph.all_paths_dot(src, dst)

    def first_path(self, dst: str) -> list:
        """A path root -> dst that always follows the earliest-added
        predecessor."""
        return self._graph.first_path(dst)

    def to_dot(self) -> str:
        return self._graph.to_dot()
