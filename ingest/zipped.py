"""Read a zip package (a .docx) without letting it inflate past the limits: check, then inflate in steps.

Why: a zip's directory states each part's size, but deflate packs up to ~1030 bytes into one, and the
probe's 298 KB .docx held 100 MB of XML (372 s and +1.4 GB in python-docx). So :class:`Package` checks
the directory before anything is inflated — member count, compression methods, the declared size of the
XML parts against ``DOCQA_MAX_UNZIPPED_MB``, each large part's ratio against ``DOCQA_MAX_ZIP_RATIO`` —
then inflates 1 MB at a time, counting what comes out against the same budget. zipfile never returns more
than a member's declared size (and a member that inflates past it fails its CRC check), so whatever the
directory claims, no more than the limit is ever inflated. bzip2 and LZMA members are refused: zipfile
inflates those in one unbounded call, and Word never writes them. Only XML parts are read at all; images,
fonts and embedded objects are never inflated, so a photo-heavy document costs no more than its text.

XML is parsed with lxml's defaults (no ``huge_tree``: nesting deeper than 256 levels is a parse error)
and no DTD: the Open Packaging Conventions forbid DTDs in a package (ECMA-376 Part 2), and a DTD is how
entity-expansion ("billion laughs") attacks start, so one is refused before any entity could expand.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from types import TracebackType
from typing import Any

from docqa.ingest.limits import MB, LimitExceeded, Limits, megabytes, plain
from docqa.ingest.loaded import LoadError

MAX_MEMBERS = 10_000  # a .docx has 10-50 parts, a few thousand with many images; its directory is read whole
# Parts read whole into a tree (relationships, content types, styles, core properties): ~10x their size in
# memory. Word's styles.xml is 30-300 KB; the main document is streamed and not subject to this.
MAX_TREE_PART = 8 * MB
RATIO_FLOOR = 1 * MB  # parts inflating to less than this are never judged by their ratio (settings, styles)
CHUNK = 1 * MB
XML_SUFFIXES = (".xml", ".rels")
_EOCD = b"PK\x05\x06"
# Before the root element: the XML declaration, comments, processing instructions, white space.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)


def _declared_members(data: bytes) -> int | None:
    """The member count the end-of-directory record states, read before zipfile parses the directory."""
    at = data.rfind(_EOCD, max(0, len(data) - 65_557))  # the record is 22 bytes plus a <= 64 KiB comment
    if at < 0 or at + 22 > len(data):
        return None
    (total,) = struct.unpack_from("<H", data, at + 10)
    return None if total == 0xFFFF else total  # 0xFFFF: a ZIP64 record holds the real count


def has_dtd(xml: bytes) -> bool:
    """True when the XML's prolog declares a DTD (``<!DOCTYPE``), where entity definitions live."""
    position = 3 if xml.startswith(b"\xef\xbb\xbf") else 0
    while (match := _PROLOG_ITEM.match(xml, position)) is not None and match.end() > position:
        position = match.end()
    return xml.startswith(b"<!DOCTYPE", position)


def _parser(target: Any = None):
    from lxml import etree

    # lxml's defaults, spelled out: entities are not resolved, nothing is fetched, no huge_tree.
    return etree.XMLParser(
        target=target, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )


def parse_xml(xml: bytes, name: str, kind: str = "Word file"):
    """Parse one small XML part into a tree (DTDs refused). :raises LoadError: naming the part."""
    from lxml import etree

    if has_dtd(xml):
        raise LoadError(f"unsafe {kind}: part {name} declares a DTD, which Office files never hold")
    try:
        return etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as err:
        raise LoadError(f"corrupt {kind}: part {name}: {_xml_reason(err)}") from err


def _xml_reason(err: Exception) -> str:
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "Excessive depth" in message:
        return "its XML is nested more than 256 levels deep"
    return message[:120]


class Package:
    """A zip package opened for bounded reading: ``has``, ``read`` (small parts), ``parse`` (streamed).

    All XML read through one package shares one budget of ``limits.unzipped_bytes``.

    :raises LoadError: the data is not a readable zip, has too many members, uses a compression other
        than deflate for an XML part, or an XML part is encrypted.
    :raises LimitExceeded: the XML parts declare more than the limit, or one inflates more than the ratio.
    """

    def __init__(self, data: bytes, limits: Limits, kind: str = "Word file") -> None:
        self.limits = limits
        self.kind = kind
        declared = _declared_members(data)
        if declared is not None and declared > MAX_MEMBERS:
            raise LoadError(f"corrupt {kind}: {declared} parts in its zip directory (at most {MAX_MEMBERS})")
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
            raise LoadError(
                f"corrupt {kind}: not a readable zip package ({err}); old .doc files need saving as .docx"
            ) from err
        try:
            self._check()
        except BaseException:
            self.archive.close()
            raise
        self.budget = limits.unzipped_bytes

    def _check(self) -> None:
        kind, limits = self.kind, self.limits
        members = self.archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise LoadError(
                f"corrupt {kind}: {len(members)} parts in its zip directory (at most {MAX_MEMBERS})"
            )
        self.members = {m.filename: m for m in members if not m.is_dir()}
        xml = [m for m in self.members.values() if m.filename.lower().endswith(XML_SUFFIXES)]
        for member in xml:
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise LoadError(
                    f"unsupported {kind}: part {member.filename} uses zip compression method "
                    f"{member.compress_type} (Office files use deflate)"
                )
            if member.flag_bits & 0x1:
                raise LoadError(f"encrypted {kind}: part {member.filename} is password-protected")
        total = sum(m.file_size for m in xml)
        if total > limits.unzipped_bytes:
            raise LimitExceeded(
                f"too large to read safely: the {kind}'s XML inflates to {megabytes(total)}",
                megabytes(limits.unzipped_bytes),
                "DOCQA_MAX_UNZIPPED_MB",
            )
        for member in xml:
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > RATIO_FLOOR and ratio > limits.zip_ratio:
                raise LimitExceeded(
                    f"too compressed to be a real document: part {member.filename} inflates {ratio:.0f} "
                    f"times (to {megabytes(member.file_size)})",
                    f"{plain(limits.zip_ratio)} times",
                    "DOCQA_MAX_ZIP_RATIO",
                )

    def __enter__(self) -> Package:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.archive.close()

    def has(self, name: str) -> bool:
        return name in self.members

    def _chunks(self, name: str):
        """The part's bytes 1 MB at a time, refused as soon as all XML read passes the budget."""
        if not name.lower().endswith(XML_SUFFIXES):
            raise LoadError(f"corrupt {self.kind}: part {name} should be XML")
        try:
            with self.archive.open(self.members[name]) as member:
                while chunk := member.read(CHUNK):
                    self.budget -= len(chunk)
                    if self.budget < 0:
                        limit = megabytes(self.limits.unzipped_bytes)
                        raise LimitExceeded(
                            f"too large to read safely: the {self.kind}'s XML inflates to more than {limit}",
                            limit,
                            "DOCQA_MAX_UNZIPPED_MB",
                        )
                    yield chunk
        except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, ValueError, KeyError) as err:
            if isinstance(err, LoadError):
                raise
            raise LoadError(f"corrupt {self.kind}: part {name}: {err}") from err

    def read(self, name: str) -> bytes:
        """A whole (small) XML part, counted against the budget; at most :data:`MAX_TREE_PART` bytes."""
        member = self.members.get(name)
        if member is not None and member.file_size > MAX_TREE_PART:
            raise LoadError(
                f"corrupt {self.kind}: part {name} is {megabytes(member.file_size)} "
                f"(at most {megabytes(MAX_TREE_PART)} for a part other than the document)"
            )
        out = bytearray()
        for chunk in self._chunks(name):
            out += chunk
            if len(out) > MAX_TREE_PART:
                raise LoadError(f"corrupt {self.kind}: part {name} is larger than its zip directory says")
        return bytes(out)

    def parse(self, name: str, target: Any) -> None:
        """Feed an XML part to an lxml parser ``target`` piece by piece (the part is never held whole).

        The target should raise from its ``doctype()`` method: a DTD is refused before any entity expands.
        """
        from lxml import etree

        parser = _parser(target)
        try:
            for chunk in self._chunks(name):
                parser.feed(chunk)
            parser.close()
        except etree.XMLSyntaxError as err:
            raise LoadError(f"corrupt {self.kind}: part {name}: {_xml_reason(err)}") from err
