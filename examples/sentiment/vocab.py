import re

_WORD = re.compile(r"[a-z']+")


class Vocabulary:
    """Maps words to ids; unknown words share id 0."""

    def __init__(self, words):
        self.ids = {w: i + 1 for i, w in enumerate(sorted(set(words)))}

    def __len__(self):
        return len(self.ids) + 1

    def encode(self, text):
        return [self.ids.get(w, 0) for w in _WORD.findall(text.lower())]
