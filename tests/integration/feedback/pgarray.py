"""Decode the PostgreSQL binary arrays of tandem.internal.v1's column calls
(report_inputs.proto) for the tests: independent of the C reader in feedback."""
import struct
import uuid


def elements(data):
    """The raw elements (bytes, None for NULL) of a one-dimensional binary array."""
    if not data:
        return []
    ndim, _flags, _oid = struct.unpack(">iiI", data[:12])
    if ndim == 0:
        return []
    assert ndim == 1, ndim
    n, _lower = struct.unpack(">ii", data[12:20])
    at, out = 20, []
    for _ in range(n):
        (size,) = struct.unpack(">i", data[at:at + 4])
        at += 4
        if size < 0:
            out.append(None)
            continue
        out.append(data[at:at + size])
        at += size
    assert at == len(data), (at, len(data))
    return out


def uuids(data):
    return [None if e is None else str(uuid.UUID(bytes=e)) for e in elements(data)]


def ints(data):
    return [None if e is None else struct.unpack(">i", e)[0] for e in elements(data)]


def texts(data):
    return [None if e is None else e.decode() for e in elements(data)]


def bools(data):
    return [None if e is None else e != b"\x00" for e in elements(data)]
