"""The label set, kept as CSV text (name, description)."""

import csv
import io

LABELS_CSV = """\
sports,games and athletes
weather,rain and sunshine
food,cooking and eating
"""


def load_labels(text=LABELS_CSV):
    return [name for name, _ in csv.reader(io.StringIO(text))]
