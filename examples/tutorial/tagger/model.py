"""The classifier: a linear layer over hashed word counts."""

import torch
from tqdm import tqdm

from .features import DIMENSIONS, featurize, warn
from .hub import download
from .labels import load_labels


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.labels = load_labels()
        self.linear = torch.nn.Linear(DIMENSIONS, len(self.labels))

    @classmethod
    def from_pretrained(cls, url, path="tagger-weights.pt"):
        """A tagger with published weights, downloaded from `url`."""
        download(url, path)
        model = cls()
        model.load_state_dict(torch.load(path))
        return model

    def forward(self, texts):
        return self.linear(torch.from_numpy(featurize(texts)))

    def fit(self, texts, labels, steps=200):
        """Trains on (text, label name) pairs; tqdm shows progress."""
        target = torch.tensor([self.labels.index(label) for label in labels])
        optimizer = torch.optim.SGD(self.parameters(), lr=0.5)
        for _ in tqdm(range(steps), desc="training", disable=None):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(self(texts), target)
            loss.backward()
            optimizer.step()
        return self

    @torch.no_grad()
    def predict(self, texts):
        if not texts:
            warn("nothing to predict")
        return [self.labels[i] for i in self(texts).argmax(dim=1).tolist()]
