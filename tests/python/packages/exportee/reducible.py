"""An object that saves itself through __reduce_package__."""


def load_reducible(importer, resource, tag):
    return Reducible(importer.load_text("reducible_data", resource), tag)


class Reducible:
    def __init__(self, payload, tag):
        self.payload = payload
        self.tag = tag

    def __reduce_package__(self, exporter):
        resource = f"payload_{exporter.get_unique_id()}.txt"
        exporter.save_text("reducible_data", resource, self.payload)
        return (load_reducible, (resource, self.tag))

    def __eq__(self, other):
        return (type(other).__name__ == "Reducible" and
                (self.payload, self.tag) == (other.payload, other.tag))
