"""A bag-of-words scorer: a torch module when torch is installed, plain
Python otherwise, so the demo runs either way."""

from .vocab import Vocabulary

POSITIVE = ["good", "great", "love", "fine", "happy", "sealed"]
NEGATIVE = ["bad", "awful", "hate", "broken", "sad", "leaky"]

try:
    import torch
except ImportError:  # hermetic itself does not need torch
    torch = None


def _weights(vocab):
    w = [0.0] * len(vocab)
    for word in POSITIVE:
        w[vocab.ids[word]] = 1.0
    for word in NEGATIVE:
        w[vocab.ids[word]] = -1.0
    return w


if torch is not None:

    class Scorer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vocab = Vocabulary(POSITIVE + NEGATIVE)
            self.embedding = torch.nn.EmbeddingBag(len(self.vocab), 1, mode="sum")
            with torch.no_grad():
                self.embedding.weight.copy_(
                    torch.tensor(_weights(self.vocab)).unsqueeze(1))

        @torch.no_grad()
        def forward(self, text):
            ids = torch.tensor([self.vocab.encode(text)])
            return float(self.embedding(ids).squeeze())

else:

    class Scorer:
        def __init__(self):
            self.vocab = Vocabulary(POSITIVE + NEGATIVE)
            self.weights = _weights(self.vocab)

        def __call__(self, text):
            return sum(self.weights[i] for i in self.vocab.encode(text))


def label(score):
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"
