"""Trains the tutorial's tagger on a few sentences (docs/tutorial.md)."""

import torch

from tagger import Tagger

TRAINING = [
    ("the team won the match in the final minute", "sports"),
    ("she scored two goals and the crowd cheered", "sports"),
    ("the players trained on the field all week", "sports"),
    ("heavy rain and wind are expected tonight", "weather"),
    ("a sunny morning with clouds in the afternoon", "weather"),
    ("snow and cold temperatures across the north", "weather"),
    ("bake the bread until the crust is golden", "food"),
    ("a soup of tomatoes garlic and fresh basil", "food"),
    ("we ate noodles and dumplings for dinner", "food"),
]


def train():
    torch.manual_seed(0)
    texts, labels = zip(*TRAINING)
    return Tagger().fit(list(texts), list(labels))
