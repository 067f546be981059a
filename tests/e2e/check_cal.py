#!/usr/bin/python3
"""Compares an emulated unit's calibration partitions with their seed.

The emulator (`emulate --cal`, src/target/cal_seed.c) fills modemst1, modemst2,
fsg, fsc and persist of unit SERIAL with byte o of partition LABEL = byte o % 32
of SHA-256("%08x:%s:%d" % (SERIAL, LABEL, o // 32)), at LUN 0 byte 1 MiB
(eMMC/UFS) or NAND erase block 12 (256 KiB blocks), in that order: 1, 1, 1, 1
and 2 blocks. usage: check_cal.py LUN0_IMAGE emmc|ufs|nand SERIAL same|differ
  same    every partition equals its seed (exit 0), else names each that differs
  differ  every partition differs from its seed (the package overwrote them)
"""
import hashlib
import sys

BLOCK = 256 * 1024
LAYOUT = [("modemst1", 0, 1), ("modemst2", 1, 1), ("fsg", 2, 1), ("fsc", 3, 1), ("persist", 4, 2)]


def seed(serial, label, n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%08x:%s:%d" % (serial, label, i)).encode()).digest()
        i += 1
    return bytes(out[:n])


def main():
    image, kind, serial, want = sys.argv[1], sys.argv[2], int(sys.argv[3], 16), sys.argv[4]
    base = 12 * BLOCK if kind == "nand" else 1024 * 1024
    bad = 0
    with open(image, "rb") as f:
        for label, block, blocks in LAYOUT:
            f.seek(base + block * BLOCK)
            got = f.read(blocks * BLOCK)
            same = got == seed(serial, label, blocks * BLOCK)
            if same != (want == "same"):
                print("%s: %s %s its seed" % (image, label, "equals" if same else "differs from"))
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
