"""Shared machinery of the hermetic vs torch.package benchmarks.

Every figure is a call timed in a fresh process (so imports, caches and the
allocator start cold alike for every contender), repeated and summarised as
median with min-max. Before each timed call the child writes ~2 GiB of fresh
memory once and frees it: this VM hands idle memory back to its host, and
without this whoever runs first pays the first-touch cost (up to 20x).

A benchmark script exposes child cases through child_main(); the parent
(run.py) calls measure(), which starts the children and collects their JSON.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
# The parent reads hermetic's own modules too (not only its children).
if os.path.join(REPO, "python") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "python"))
TOUCH_BYTES = 2 << 30
_PAGE = 4096


def touch_memory(nbytes=TOUCH_BYTES):
    """Allocates and writes nbytes, then frees them."""
    block = bytearray(nbytes)
    block[::_PAGE] = b"\x01" * len(range(0, nbytes, _PAGE))
    del block


def timed(fn):
    """Seconds fn() takes, after touching memory."""
    touch_memory()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class ChildError(RuntimeError):
    pass


def child_env():
    env = dict(os.environ)
    python_dir = os.path.join(REPO, "python")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [python_dir, env.get("PYTHONPATH")]))
    return env


def run_child(script, case, params):
    """Runs case(params) of bench script `script` in a fresh interpreter and
    returns the dict it reported."""
    command = [sys.executable, os.path.join(BENCH_DIR, script), "--child", case, json.dumps(params)]
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise ChildError(
            f"{script} {case} {params} failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(script, case, params_list, runs, keys=None):
    """Stats of `runs` fresh-process runs of the child case with each params
    of params_list, run round-robin so that all contenders see the same
    spells of load on a shared machine: of the "seconds" each reported, or,
    given `keys`, a dict of the Stat of each key a child reported."""
    names = keys or ("seconds",)
    samples = [{name: [] for name in names} for _ in params_list]
    for _ in range(runs):
        for found, params in zip(samples, params_list):
            report = run_child(script, case, params)
            for name in names:
                if name in report:
                    found[name].append(report[name])
    stats = [{name: Stat(values) for name, values in found.items() if values}
             for found in samples]
    return stats if keys else [found["seconds"] for found in stats]


def child_main(cases):
    """Entry point of a bench script run as a child: `--child NAME JSON`
    runs cases[NAME](params) and prints its dict as the last line."""
    if len(sys.argv) != 4 or sys.argv[1] != "--child":
        return False
    report = cases[sys.argv[2]](json.loads(sys.argv[3]))
    print(json.dumps(report), flush=True)
    return True


class Stat:
    """Median and range of samples (seconds)."""

    def __init__(self, samples):
        self.samples = list(samples)
        self.median = statistics.median(self.samples)
        self.low = min(self.samples)
        self.high = max(self.samples)

    def __str__(self):
        return f"{self.median:.3f} ({self.low:.3f}-{self.high:.3f})"


def ratio(slow, fast):
    return f"{slow.median / fast.median:.2f}x"


def log_sizes(low, high, count):
    """count integers from low to high, log-spaced."""
    if count == 1:
        return [high]
    step = (high / low) ** (1 / (count - 1))
    return [round(low * step**i) for i in range(count)]


def fraction_sizes(total, count, of=10):
    """Sizes k*total/of for `count` of the of fractions, always the largest."""
    picks = sorted({round(of * (i + 1) / count) for i in range(count)})
    return [max(1, round(total * k / of)) for k in picks]


def machine():
    """One line naming the machine and software versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as info:
            memory = f"{int(info.readline().split()[1]) / (1 << 20):.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        memory = "unknown RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def table(header, rows):
    """Markdown table text."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
