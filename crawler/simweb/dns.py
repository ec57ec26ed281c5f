"""A tiny authoritative UDP DNS server for the simulated web.

It answers A queries for simulated hosts with their loopback address and NXDOMAIN for every
other name, so a crawler pointed at it (``--nameserver``) can never leak a query off the machine
and sees a real NXDOMAIN for the "expired domain" fault. Hand-written (RFC 1035 subset): one
question per query, no compression in questions, no TCP.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping
from typing import cast

TYPE_A = 1
CLASS_IN = 1
RCODE_OK, RCODE_FORMERR, RCODE_NXDOMAIN = 0, 1, 3
TTL = 60


def parse_question(packet: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, name, qtype, end offset of the question) or None if malformed."""
    if len(packet) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount < 1:
        return None
    labels = []
    pos = 12
    while True:
        if pos >= len(packet):
            return None
        n = packet[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(packet):  # compression pointers never appear in a question
            return None
        labels.append(packet[pos : pos + n].decode("ascii", errors="replace"))
        pos += n
    if pos + 4 > len(packet):
        return None
    qtype, _qclass = struct.unpack("!HH", packet[pos : pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def build_response(packet: bytes, records: Mapping[str, str]) -> bytes | None:
    q = parse_question(packet)
    if q is None:
        if len(packet) < 12:
            return None  # not even a header: nothing to answer to
        qid = struct.unpack("!H", packet[:2])[0]
        return struct.pack("!HHHHHH", qid, 0x8000 | RCODE_FORMERR, 0, 0, 0, 0)
    qid, flags, name, qtype, end = q
    question = packet[12:end]
    addr = records.get(name.rstrip("."))
    # QR=1, keep opcode and RD, AA=1 (we are the authority for everything we answer), RA=1.
    base = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080
    if addr is None:
        return struct.pack("!HHHHHH", qid, base | RCODE_NXDOMAIN, 1, 0, 0, 0) + question
    if qtype != TYPE_A:  # the name exists but has no record of that type (NODATA)
        return struct.pack("!HHHHHH", qid, base | RCODE_OK, 1, 0, 0, 0) + question
    answer = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + socket.inet_aton(addr)
    return struct.pack("!HHHHHH", qid, base | RCODE_OK, 1, 1, 0, 0) + question + answer


def build_query(name: str, qtype: int = TYPE_A, qid: int = 0x1234) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, CLASS_IN)


def parse_answer(packet: bytes) -> tuple[int, list[str]]:
    """(rcode, A addresses) from a response built by ``build_response`` (test helper)."""
    rcode = struct.unpack("!H", packet[2:4])[0] & 0x000F
    q = parse_question(packet)
    if q is None:
        return rcode, []
    pos = q[4]
    ancount = struct.unpack("!H", packet[6:8])[0]
    addrs = []
    for _ in range(ancount):
        _ptr, rtype, _cls, _ttl, rdlen = struct.unpack("!HHHIH", packet[pos : pos + 12])
        pos += 12
        if rtype == TYPE_A:
            addrs.append(socket.inet_ntoa(packet[pos : pos + rdlen]))
        pos += rdlen
    return rcode, addrs


class DnsProtocol(asyncio.DatagramProtocol):
    def __init__(self, records: Mapping[str, str]) -> None:
        self.records = records
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[str] = []  # every name asked, for tests

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        q = parse_question(data)
        if q is not None:
            self.queries.append(q[2])
        resp = build_response(data, self.records)
        if resp is not None and self.transport is not None:
            self.transport.sendto(resp, addr)


async def start_dns(records: Mapping[str, str], host: str = "127.0.0.1", port: int = 0) -> tuple[DnsProtocol, int]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: DnsProtocol(records), local_addr=(host, port))
    return protocol, transport.get_extra_info("sockname")[1]


async def query(server: tuple[str, int], name: str, qtype: int = TYPE_A, wait_s: float = 2.0) -> tuple[int, list[str]]:
    """Send one query and return (rcode, addresses). A minimal client for tests and the CLI."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bytes] = loop.create_future()

    class _Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            if not fut.done():
                fut.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(_Client, remote_addr=server)
    try:
        transport.sendto(build_query(name, qtype))
        return parse_answer(await asyncio.wait_for(fut, wait_s))
    finally:
        transport.close()
