"""What this process has memory-mapped: evidence for zero-copy loads."""


def mapped_ranges(path):
    """Address ranges of this process's mappings of the file at `path`."""
    target = str(path.resolve())
    ranges = []
    # Mapped paths are bytes; a name that is not UTF-8 must not fail this.
    with open("/proc/self/maps", errors="surrogateescape") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() == target:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    return ranges
