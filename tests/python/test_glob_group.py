"""GlobGroup: torch.package's pattern semantics (spec section 7)."""

import pytest

from hermetic import GlobGroup


@pytest.mark.parametrize(
    "pattern, candidate, expected",
    [
        ("torch.**", "torch", True),
        ("torch.**", "torch.nn.functional", True),
        ("torch.**", "torchvision", False),
        ("torch.*", "torch", False),
        ("torch.*", "torch.nn", True),
        ("torch.*", "torch.nn.functional", False),
        ("torch*.**", "torch", True),
        ("torch*.**", "torchvision.models", True),
        ("foo", "foo.bar", False),
        ("*", "foo", True),
        ("*", "foo.bar", False),
        ("**", "anything.at.all", True),
        ("**", "", False),
        ("**.nn", "torch.nn", True),
        ("**.nn", "nn", True),
        ("a.**.b", "a.b", True),
        ("a.**.b", "a.x.y.b", True),
        ("a*b", "ab", True),
        ("a*b", "axyb", True),
        ("a*b", "a.b", False),
        ("*", "", True),
        ("a.*", "a.", True),
        ("a.**", "a.", False),
    ],
)
def test_single_pattern_matches_like_torch(pattern, candidate, expected):
    assert GlobGroup(pattern).matches(candidate) is expected


def test_excludes_take_precedence_over_includes():
    group = GlobGroup(["torch.**", "numpy.**"], exclude=["torch.nn.**"])
    assert group.matches("torch")
    assert not group.matches("torch.nn")
    assert not group.matches("torch.nn.functional")
    assert group.matches("numpy.linalg")
    assert not group.matches("torchx")


def test_slash_separator_matches_record_paths():
    group = GlobGroup("res/**", separator="/")
    assert group.matches("res/a.txt")
    assert group.matches("res")
    assert not group.matches(".data/x")
    assert GlobGroup("**", separator="/").matches(".data/version")


def test_double_star_inside_a_segment_is_rejected():
    with pytest.raises(ValueError, match=r"\*\* can only appear as an entire path segment"):
        GlobGroup("a**.b")


def test_str_and_repr_show_the_raw_arguments():
    assert str(GlobGroup("nothing.here")) == "GlobGroup(include=nothing.here, exclude=())"
    group = GlobGroup(["a.**", "b"], exclude=["a.c"])
    assert repr(group) == "GlobGroup(include=['a.**', 'b'], exclude=['a.c'])"


def test_iterables_are_read_once():
    group = GlobGroup(iter(["a", "b"]), exclude=iter(["c"]))
    assert group.include == ["a", "b"]
    assert group.exclude == ["c"]
    assert group.matches("b")
