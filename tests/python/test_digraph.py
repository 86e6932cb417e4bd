"""_digraph.DiGraph: torch's networkx-like graph API (spec section 9)."""

import pytest

from hermetic._digraph import DiGraph


def make_graph():
    graph = DiGraph()
    graph.add_edge("root", "a")
    graph.add_edge("root", "b")
    graph.add_edge("a", "c")
    graph.add_edge("b", "c")
    graph.add_edge("c", "d")
    graph.add_node("lonely")
    return graph


def test_nodes_keep_insertion_order_and_merge_attributes():
    graph = DiGraph()
    graph.add_node("m", action=1)
    graph.add_node("n")
    graph.add_node("m", source="x = 1")
    assert list(graph) == ["m", "n"]
    assert graph.nodes["m"] == {"action": 1, "source": "x = 1"}
    assert graph.nodes["n"] == {}
    assert len(graph) == 2


def test_add_edge_adds_missing_nodes():
    graph = DiGraph()
    graph.add_edge("u", "v")
    assert list(graph.nodes) == ["u", "v"]
    assert list(graph.edges) == [("u", "v")]


def test_successors_predecessors_and_edges():
    graph = make_graph()
    assert list(graph.successors("root")) == ["a", "b"]
    assert list(graph.predecessors("c")) == ["a", "b"]
    assert list(graph.edges) == [("root", "a"), ("root", "b"), ("a", "c"),
                                 ("b", "c"), ("c", "d")]


@pytest.mark.parametrize("method", ["successors", "predecessors"])
def test_unknown_node_raises_value_error(method):
    with pytest.raises(ValueError, match=r"^The node missing is not in the digraph\.$"):
        getattr(make_graph(), method)("missing")


@pytest.mark.parametrize("method", ["successors", "predecessors", "first_path",
                                    "forward_transitive_closure"])
def test_a_key_that_is_not_a_name_is_an_unknown_node_as_in_torch(method):
    with pytest.raises(ValueError, match=r"^The node 3 is not in the digraph\.$"):
        getattr(make_graph(), method)(3)


def test_contains_is_false_for_unknown_and_unhashable():
    graph = make_graph()
    assert "a" in graph
    assert "zzz" not in graph
    assert ["a"] not in graph
    assert 3 not in graph


def test_closures_treat_src_as_one_node():
    graph = make_graph()
    assert graph.forward_transitive_closure("a") == {"a", "c", "d"}
    assert graph.backward_transitive_closure("c") == {"c", "a", "b", "root"}
    # torch iterates the characters of src here; a multi-letter name works.
    assert graph.forward_transitive_closure("lonely") == {"lonely"}


def test_first_path_follows_earliest_predecessor():
    assert make_graph().first_path("d") == ["root", "a", "c", "d"]
    assert make_graph().first_path("root") == ["root"]


def test_to_dot_layout():
    graph = DiGraph()
    graph.add_edge("u", "v")
    graph.add_edge("u", "w")
    assert graph.to_dot() == (
        'digraph G {\nrankdir = LR;\nnode [shape=box];\n'
        '"u" -> "v";\n"u" -> "w";\n}\n')


def test_all_paths_contains_exactly_the_edges_on_paths():
    dot = make_graph().all_paths("root", "c")
    edges = {line for line in dot.splitlines() if "->" in line}
    assert edges == {'"root" -> "a";', '"root" -> "b";', '"a" -> "c";',
                     '"b" -> "c";'}


def test_all_paths_of_unknown_source_raises():
    with pytest.raises(ValueError, match="The node nope is not in the digraph."):
        make_graph().all_paths("nope", "c")


def _mixed(graph_class):
    graph = graph_class()
    graph.add_node(1, kind="int")
    graph.add_edge(1, (2, 3))
    graph.add_edge((2, 3), "x")
    graph.add_edge(1, "x")
    graph.add_edge("\0odd", 1)
    graph.add_edge(2.5, frozenset({"a"}))
    return graph


def test_any_hashable_node_behaves_as_in_torch():
    torch_digraph = pytest.importorskip("torch.package._digraph")
    ours, theirs = _mixed(DiGraph), _mixed(torch_digraph.DiGraph)
    assert list(ours) == list(theirs)
    assert list(ours.edges) == list(theirs.edges)
    assert ours.nodes == theirs.nodes
    for node in theirs:
        assert list(ours.successors(node)) == list(theirs.successors(node))
        assert list(ours.predecessors(node)) == list(theirs.predecessors(node))
        assert ours.first_path(node) == theirs.first_path(node)
        assert (node in ours) == (node in theirs)
    assert ours.to_dot() == theirs.to_dot()
    assert (99 in ours, [1] in ours) == (99 in theirs, [1] in theirs) == (False, False)


def test_hashable_nodes_in_closures_and_errors():
    graph = _mixed(DiGraph)
    assert graph.forward_transitive_closure(1) == {1, (2, 3), "x"}
    assert graph.backward_transitive_closure("x") == {"x", (2, 3), 1, "\0odd"}
    assert '"(2, 3)" -> "x";' in graph.all_paths(1, "x")
    with pytest.raises(ValueError, match=r"^The node 99 is not in the digraph\.$"):
        list(graph.successors(99))
    with pytest.raises(ValueError, match=r"^The node \(9, 9\) is not in the digraph\.$"):
        graph.first_path((9, 9))
    with pytest.raises(TypeError, match="unhashable"):
        graph.add_node([1])
