#!/usr/bin/env python3
"""Compares two (sparse) storage images byte for byte without reading their
holes: sizes must be equal, and every data extent of either file (SEEK_DATA /
SEEK_HOLE) must hold the same bytes in the other (a hole reads as zeros).
usage: cmp_sparse.py A B     Exit 0 when identical; prints the first difference."""
import os
import sys


def extents(fd, size):
    off = 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        off = end


def main():
    a, b = sys.argv[1], sys.argv[2]
    sa, sb = os.path.getsize(a), os.path.getsize(b)
    if sa != sb:
        print("%s: %d bytes, %s: %d bytes" % (a, sa, b, sb))
        return 1
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for src in (fa, fb):
            for start, end in extents(src.fileno(), sa):
                off = start
                while off < end:
                    n = min(1 << 20, end - off)
                    fa.seek(off)
                    fb.seek(off)
                    x, y = fa.read(n), fb.read(n)
                    if x != y:
                        i = next(i for i in range(n) if x[i] != y[i])
                        print("%s and %s differ at byte %d" % (a, b, off + i))
                        return 1
                    off += n
    return 0


if __name__ == "__main__":
    sys.exit(main())
