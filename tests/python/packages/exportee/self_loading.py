"""Packaged code that reads its own package's resources."""


def greeting():
    import torch_package_importer

    return torch_package_importer.load_text("exportee", "greeting.txt")
