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


def mapping_usage(pid, path):
    """{smaps field: bytes} summed over process `pid`'s mappings of the file
    at `path` (Rss, Shared_Clean, Private_Dirty, ...)."""
    target = str(path.resolve())
    usage = {}
    counting = False
    with open(f"/proc/{pid}/smaps", errors="surrogateescape") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and fields[0][-1] != ":":  # a mapping's header line
                counting = len(fields) >= 6 and line.split(maxsplit=5)[5].strip() == target
            elif counting and len(fields) == 3 and fields[2] == "kB":
                name = fields[0][:-1]
                usage[name] = usage.get(name, 0) + int(fields[1]) * 1024
    return usage
