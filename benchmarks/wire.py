"""A witness on the loopback wire: when each HTTP request left its client, by the kernel's clock.

The simulated web's log stamps a request when its event loop gets round to it. With both cores busy
that is often milliseconds late (in a 300-site crawl it lagged the wire by 1.4 ms at the median and
75 ms at p99), and a late stamp followed by a prompt one makes two correctly spaced requests look too
close. A packet socket on `lo` sees each request segment as it is transmitted, and the kernel stamps it
(SO_TIMESTAMPNS) whatever either process is doing. Spacing measured here is what a remote server's
network would see. It needs CAP_NET_RAW (root); without it `open_wire` returns None and the benchmark
reports the server log alone.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time
from dataclasses import dataclass

from crawler.simweb.logstats import LogEntry

ETH_P_IP = 0x0800
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_STATISTICS = 6
# Bound to ETH_P_IP, a packet socket on `lo` gets each packet once, as received; the kernel stamps it as
# it loops back inside the sender's write. Should a kernel also deliver the sending copy, it is skipped.
PACKET_OUTGOING = 4
METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ")
_TIMESPEC = struct.Struct("@ll")


@dataclass(frozen=True, slots=True)
class WireLog:
    requests: list[LogEntry]  # start = end = kernel send time on the monotonic clock; status unknown (0)
    packets: int
    dropped: int  # packets the kernel could not queue to us: if > 0 the spacing figures are incomplete


class _Capture(threading.Thread):
    def __init__(self, sock: socket.socket, port: int) -> None:
        super().__init__(name="wire-capture", daemon=True)
        self.sock = sock
        self.port = port
        self.stop = threading.Event()
        self.requests: list[LogEntry] = []
        # Packet stamps are wall-clock; the server log is monotonic. One offset, read now, maps between them.
        self.offset_ns = time.time_ns() - time.monotonic_ns()

    def run(self) -> None:
        cmsg_space = socket.CMSG_SPACE(_TIMESPEC.size)
        while not self.stop.is_set():
            try:
                data, ancillary, _, address = self.sock.recvmsg(65535, cmsg_space)
            except TimeoutError:
                continue
            if address[2] == PACKET_OUTGOING:
                continue
            request = self._request(data, ancillary)
            if request is not None:
                self.requests.append(request)

    def _request(self, packet: bytes, ancillary: list[tuple[int, int, bytes]]) -> LogEntry | None:
        if len(packet) < 40 or packet[9] != socket.IPPROTO_TCP:
            return None
        ip_header = (packet[0] & 0x0F) * 4
        if int.from_bytes(packet[ip_header + 2:ip_header + 4]) != self.port:
            return None  # other loopback traffic: the database, other jobs' servers
        payload = packet[ip_header + (packet[ip_header + 12] >> 4) * 4:]
        if not payload.startswith(METHODS):
            return None
        stamp = next((_TIMESPEC.unpack(data[:_TIMESPEC.size]) for level, kind, data in ancillary
                      if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
        if stamp is None:
            return None
        sent = (stamp[0] * 1_000_000_000 + stamp[1] - self.offset_ns) / 1e9
        head = payload.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        host = next((line[5:].strip() for line in head[1:] if line[:5].lower() == "host:"), "")
        return LogEntry(start=sent, end=sent, host=host.rsplit(":", 1)[0].lower() if host else "",
                        local_addr=socket.inet_ntoa(packet[16:20]), method=method, path=rest.rsplit(" ", 1)[0],
                        user_agent="", referer="", status=0)


class Wire:
    """Capturing while open; `close()` returns what was seen."""

    def __init__(self, sock: socket.socket, port: int) -> None:
        self._capture = _Capture(sock, port)
        self._capture.start()

    def close(self) -> WireLog:
        self._capture.stop.set()
        self._capture.join()
        sock = self._capture.sock
        packets, dropped = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        sock.close()
        return WireLog(self._capture.requests, packets, dropped)


def _only_to_port(sock: socket.socket, port: int) -> None:
    """Have the kernel pass on only TCP segments to ``port`` (classic BPF, offsets from the IP header).

    Without it every loopback packet — the responses, the database's traffic — wakes this process, whose
    CPU then competes with the crawl it is measuring.
    """
    instructions = (
        (0x30, 0, 0, 9),       # A = IP protocol
        (0x15, 0, 6, 6),       # TCP? else drop
        (0x28, 0, 0, 6),       # A = flags and fragment offset
        (0x45, 4, 0, 0x1FFF),  # a later fragment: drop
        (0xB1, 0, 0, 0),       # X = IP header length
        (0x48, 0, 0, 2),       # A = TCP destination port
        (0x15, 0, 1, port),    # to our port? accept, else drop
        (0x06, 0, 0, 1 << 18),
        (0x06, 0, 0, 0),
    )
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in instructions))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(instructions),
                                                                     ctypes.addressof(program)))


def open_wire(port: int) -> Wire | None:
    """Start capturing requests to ``port`` on `lo`, or None when this process may not open a packet socket."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    except PermissionError:
        return None
    _only_to_port(sock, port)  # before bind: no packet reaches the socket unfiltered
    sock.bind(("lo", ETH_P_IP))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    sock.settimeout(0.2)
    sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)  # reading the counters resets them: start from zero
    return Wire(sock, port)
