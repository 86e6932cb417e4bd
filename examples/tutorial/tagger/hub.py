"""Downloading published weights: needed to fetch a model, never to run one."""

import requests


def download(url, path):
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    with open(path, "wb") as f:
        f.write(response.content)
