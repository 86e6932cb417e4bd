#!/usr/bin/env bash
# Installs the C++ library from an already-built tree into a temporary prefix
# and uses it as a user would, from that prefix alone: every installed header
# compiles on its own; this example builds with find_package(hermetic) and
# with pkg-config; both builds run on a package hermetic's exporter writes
# from a torch state_dict (check_example.py compares their output to torch).
#   usage: examples/cpp/check.sh BUILD_DIR
# python3 must import hermetic and torch; BUILD_DIR is a direct (not wheel)
# CMake build.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
echo "installed into $prefix:"
(cd "$prefix" && find . -type f | sort | sed 's/^/  /')

# Nothing but the prefix on the include path: a header that needs another
# header outside include/ (or forgets one of its own) fails here.
for header in "$prefix"/include/hermetic/*.h; do
  echo "#include \"hermetic/$(basename "$header")\"" |
    c++ -std=c++20 -fsyntax-only -I "$prefix/include" -x c++ -
done

# CMAKE_FIND_USE_PACKAGE_REGISTRY=OFF and a prefix path of the prefix alone:
# the source and build trees cannot be what find_package finds.
cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >/dev/null
found=$(sed -n 's/^hermetic_DIR:PATH=//p' "$work/build/CMakeCache.txt")
[ "$found" = "$prefix/lib/cmake/hermetic" ] || {
  echo "find_package(hermetic) found $found, not the prefix" >&2
  exit 1
}
cmake --build "$work/build" >/dev/null

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
c++ -std=c++20 -O1 -Wall -Wextra -Werror "$here/tensors.cc" -o "$work/tensors-pkgconfig" \
  $(pkg-config --cflags --libs hermetic) \
  -Wl,-rpath,"$(pkg-config --variable=libdir hermetic)"

installed=$(realpath "$prefix/lib/libhermetic.so")
for program in "$work/build/tensors" "$work/tensors-pkgconfig"; do
  loaded=$(ldd "$program" | sed -n 's/^\s*libhermetic\.so[^ ]* => \(.*\) (0x.*/\1/p')
  [ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$installed" ] || {
    echo "$program does not load $installed:" >&2
    ldd "$program" >&2
    exit 1
  }
done
python3 "$here/check_example.py" "$work" "$work/build/tensors" "$work/tensors-pkgconfig"
