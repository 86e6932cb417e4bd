"""tagger: a small text classifier, the model the tutorial packages
(docs/tutorial.md)."""

from .model import Tagger
