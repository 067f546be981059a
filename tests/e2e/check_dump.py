#!/usr/bin/env python3
"""Checks an emulated unit's dumped storage against a package, byte for byte,
without the station's plan code: reads the rawprogram XML itself, and for every
<program> with a file compares the file's bytes with lun<N>.img at
start_sector * SECTOR_SIZE_IN_BYTES and checks the zero padding of its last sector.

usage: check_dump.py RAWPROGRAM_XML UNIT_DUMP_DIR
Exit 0 when every image matches; prints the first mismatch otherwise."""
import os
import sys
import xml.etree.ElementTree as ET


def main():
    xml_path, dump = sys.argv[1], sys.argv[2]
    base = os.path.dirname(xml_path)
    root = ET.parse(xml_path).getroot()
    checked = 0
    for prog in root.iter("program"):
        name = prog.get("filename", "")
        if not name:
            continue
        path = os.path.normpath(os.path.join(base, name.replace("\\", "/")))
        sector = int(prog.get("SECTOR_SIZE_IN_BYTES"))
        start = int(prog.get("start_sector").rstrip("."))
        lun = int(prog.get("physical_partition_number", "0"))
        with open(path, "rb") as f:
            want = f.read()
        padded = (len(want) + sector - 1) // sector * sector
        with open(os.path.join(dump, "lun%d.img" % lun), "rb") as f:
            f.seek(start * sector)
            got = f.read(padded)
        if got[: len(want)] != want:
            first = next(i for i in range(len(want)) if i >= len(got) or got[i] != want[i])
            print("%s: %s differs from %s at byte %d (sector %d)"
                  % (dump, prog.get("label"), name, first, start + first // sector))
            return 1
        if got[len(want):] != bytes(padded - len(want)):
            print("%s: %s: padding of the last sector is not zero" % (dump, prog.get("label")))
            return 1
        checked += 1
    if checked == 0:
        print("no program entries with files in %s" % xml_path)
        return 1
    print("%s: %d images match" % (dump, checked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
