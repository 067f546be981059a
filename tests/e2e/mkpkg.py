#!/usr/bin/env python3
"""Turns the synthetic Quectel-style NAND package of `edlstation mkpackage`
(4 KiB pages, 64-page blocks) into the package a device profile flashes, so the
e2e matrix can run every profile with a package of its own storage kind:

  nand PAGE   the same Quectel layout with PAGE-byte pages (MDM9607: 2048,
              rawprogram_nand_p2K_b128K_update.xml as its packages name it);
              every range keeps its byte offset
  emmc 512 / ufs 4096
              a board layout as phones ship it (prog_firehose_*.elf,
              rawprogram0.xml, patch0.xml, images beside them); UFS puts the
              boot loader on LUN 1 (rawprogram1.xml), the boot LUN of UFS boards

usage: mkpkg.py SRC_PACKAGE DST KIND SECTOR_SIZE
Prints the rawprogram XML files written, one a line (for check_dump.py)."""
import os
import shutil
import sys
import xml.etree.ElementTree as ET

SRC_XML = "update/firehose/rawprogram_nand_p4K_b256K_update.xml"
SRC_PAGE = 4096


def size_tag(n):
    return "%dK" % (n // 1024)


def scaled(e, factor, keep_last):
    """Copies entry e with its sector numbers in units of the new sector size."""
    a = dict(e.attrib)
    start = int(a["start_sector"]) * factor
    num = int(a["num_partition_sectors"]) * factor
    a["start_sector"] = str(start)
    a["num_partition_sectors"] = str(num)
    if keep_last:
        a["last_sector"] = str(start + num - 1)
    else:
        a.pop("last_sector", None)
    return a


def write_xml(path, root_tag, entries, comment):
    root = ET.Element(root_tag)
    root.append(ET.Comment(comment))
    for tag, attrs in entries:
        ET.SubElement(root, tag, attrs)
    ET.indent(root)
    ET.ElementTree(root).write(path, xml_declaration=True, encoding="utf-8")


def nand(src, dst, page):
    shutil.copytree(src, dst)
    factor = SRC_PAGE // page
    tree = ET.parse(os.path.join(src, SRC_XML))
    entries = []
    for e in tree.getroot():
        if not isinstance(e.tag, str):
            continue
        a = scaled(e, factor, True)
        a["SECTOR_SIZE_IN_BYTES"] = str(page)
        entries.append((e.tag, a))
    fh = os.path.join(dst, "update/firehose")
    os.unlink(os.path.join(dst, SRC_XML))
    os.unlink(os.path.join(fh, "patch_p4K_b256K.xml"))
    tag = "p%s_b%s" % (size_tag(page), size_tag(page * 64))
    raw = os.path.join(fh, "rawprogram_nand_%s_update.xml" % tag)
    write_xml(raw, "data", entries, "synthetic package: %d-byte pages, 64 pages a block" % page)
    write_xml(os.path.join(fh, "patch_%s.xml" % tag), "patches", [],
              "NOTE: Patching is in little endian format")
    return [raw]


def board(src, dst, kind, sector):
    os.makedirs(dst)
    factor = SRC_PAGE // sector if sector <= SRC_PAGE else 1
    tree = ET.parse(os.path.join(src, SRC_XML))
    luns = {0: []}
    xml_dir = os.path.join(src, "update/firehose")
    for e in tree.getroot():
        if not isinstance(e.tag, str) or e.tag != "program" or not e.get("filename"):
            continue
        a = scaled(e, factor, False)
        a.pop("PAGES_PER_BLOCK", None)
        a["SECTOR_SIZE_IN_BYTES"] = str(sector)
        # Board rawprogram files carry these (ptool's output; Debian's qdl needs them).
        a.setdefault("file_sector_offset", "0")
        a.setdefault("sparse", "false")
        name = e.get("filename").replace("\\", "/")
        path = os.path.normpath(os.path.join(xml_dir, name))
        base = os.path.basename(path)
        shutil.copy(path, os.path.join(dst, base))
        a["filename"] = base
        lun = 0
        if kind == "ufs" and a.get("label", "").startswith("sbl"):
            lun = 1
        a["physical_partition_number"] = str(lun)
        if lun == 1:
            a["start_sector"] = "0"  # alone on the boot LUN
        luns.setdefault(lun, []).append(("program", a))
    shutil.copy(os.path.join(xml_dir, "prog_firehose_sdx55.mbn"),
                os.path.join(dst, "prog_firehose_%s.elf" % kind))
    out = []
    for lun in sorted(luns):
        raw = os.path.join(dst, "rawprogram%d.xml" % lun)
        write_xml(raw, "data", luns[lun], "synthetic %s board package, LUN %d" % (kind, lun))
        write_xml(os.path.join(dst, "patch%d.xml" % lun), "patches", [],
                  "NOTE: Patching is in little endian format")
        out.append(raw)
    return out


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, kind, sector = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if kind == "nand":
        xmls = nand(src, dst, sector)
    elif kind in ("emmc", "ufs"):
        xmls = board(src, dst, kind, sector)
    else:
        sys.exit("unknown storage kind %s" % kind)
    for x in xmls:
        print(x)


if __name__ == "__main__":
    main()
