# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The vfrelay authors
"""A vhost-user front-end for the tests (python3 stdlib only): the side QEMU or
virtio_user plays, written so that a test controls every byte of it.

vfrelay is the back-end. This module is the driver: it owns guest memory, the
split rings inside it and the vhost-user conversation, so a test can behave like
a well-behaved virtio-net driver (to prove traffic flows) or break any rule on
purpose (to prove vfrelay survives it).

Layers, each usable on its own:

``GuestMemory`` / ``Region``
    Guest RAM as memfds, one or more regions at guest-physical addresses the test
    chooses (gaps, adjacent regions backed by different files, a region larger than
    its file, a 5 GiB sparse region for near-2^32 lengths). ``userspace_addr`` (the
    "QEMU virtual address" the ring addresses are given in) is chosen too. A bump
    allocator hands out guest-physical ranges.

``Vring``
    One split virtqueue written by hand: descriptor table, avail and used rings at
    chosen addresses (misaligned or outside memory if the test wants), event idx
    optional. Well-behaved helpers (``add``/``publish``/``take_used``) and raw ones
    (``write_desc``, ``set_avail_idx``, ``put_avail``) side by side.

``Frontend``
    The messages over a unix socket with SCM_RIGHTS. ``Frontend.connect(path)``
    for vfrelay ``vhost_mode = server``; ``Listener(path).accept()`` for
    ``vhost_mode = client`` (vfrelay connects to us). Every request has a method;
    ``send()`` sends anything at all (wrong sizes, stray fds, unknown ids, a header
    without its payload). With REPLY_ACK negotiated, ``ack=True`` asks for the
    u64 status and returns it.

``VirtioNet``
    A well-behaved virtio-net driver on top: feature negotiation, one queue pair,
    mergeable RX buffers of a chosen size (one write-only descriptor each, as
    Linux posts them), harvesting used entries into frames, TX of whole frames.
    Like vfr-guest it catches a host that writes a buffer it no longer owns:
    every RX buffer is filled with POISON when it comes back (and when the ring
    stops), waits in a quarantine queue, and is checked still to be POISON before
    it is posted again (``stale_writes``). ``check_all_poison()`` checks every
    buffer the host does not own, for a test that has just stopped the ring.

Byte order: little-endian, as virtio 1.0 and vfrelay's hosts. Ring indices and
entries are written with single aligned stores (struct's native-size packers), so
the host never sees a torn 16-bit index.

Limits: one queue pair in ``VirtioNet`` (``Vring`` and ``Frontend`` take any
index), no packed rings, no IOMMU, no multiqueue control queue.
"""

import contextlib
import enum
import mmap
import os
import select
import socket
import struct
import time

# --------------------------------------------------------------------------
# Protocol constants (QEMU docs/interop/vhost-user.rst; librte_vhost vhost_user.h)


class Req(enum.IntEnum):
    GET_FEATURES = 1
    SET_FEATURES = 2
    SET_OWNER = 3
    RESET_OWNER = 4
    SET_MEM_TABLE = 5
    SET_LOG_BASE = 6
    SET_LOG_FD = 7
    SET_VRING_NUM = 8
    SET_VRING_ADDR = 9
    SET_VRING_BASE = 10
    GET_VRING_BASE = 11
    SET_VRING_KICK = 12
    SET_VRING_CALL = 13
    SET_VRING_ERR = 14
    GET_PROTOCOL_FEATURES = 15
    SET_PROTOCOL_FEATURES = 16
    GET_QUEUE_NUM = 17
    SET_VRING_ENABLE = 18
    SEND_RARP = 19
    NET_SET_MTU = 20
    SET_SLAVE_REQ_FD = 21
    IOTLB_MSG = 22
    GET_CONFIG = 24
    SET_CONFIG = 25
    GET_INFLIGHT_FD = 31
    SET_INFLIGHT_FD = 32
    SET_STATUS = 39
    GET_STATUS = 40


# Requests the back-end answers with a payload whatever the flags say.
REPLIES = {Req.GET_FEATURES, Req.GET_PROTOCOL_FEATURES, Req.GET_VRING_BASE,
           Req.GET_QUEUE_NUM, Req.GET_CONFIG, Req.GET_INFLIGHT_FD, Req.GET_STATUS,
           Req.SET_LOG_BASE}

VERSION = 0x1
F_REPLY = 1 << 2
F_NEED_REPLY = 1 << 3
HDR = struct.Struct('<III')
VRING_NOFD = 1 << 8
MAX_FDS = 8

# Feature bits.
F_CSUM = 0
F_GUEST_CSUM = 1
F_MRG_RXBUF = 15
F_CTRL_VQ = 17
F_MQ = 22
F_LOG_ALL = 26
F_ANY_LAYOUT = 27
F_INDIRECT_DESC = 28
F_EVENT_IDX = 29
F_PROTOCOL_FEATURES = 30
F_VERSION_1 = 32
F_IOMMU_PLATFORM = 33
F_RING_PACKED = 34
F_IN_ORDER = 35

# Protocol feature bits.
PF_MQ = 0
PF_LOG_SHMFD = 1
PF_RARP = 2
PF_REPLY_ACK = 3
PF_NET_MTU = 4
PF_SLAVE_REQ = 5
PF_INFLIGHT_SHMFD = 12
PF_STATUS = 16

# Split ring layout (virtio 1.x 2.7).
DESC = struct.Struct('<QIHH')
D_NEXT = 1
D_WRITE = 2
D_INDIRECT = 4
AVAIL_F_NO_INTERRUPT = 1
USED_F_NO_NOTIFY = 1

# virtio_net_hdr_mrg_rxbuf: flags, gso_type, hdr_len, gso_size, csum_start,
# csum_offset, num_buffers.
NET_HDR = struct.Struct('<BBHHHHH')
NET_HDR_F_NEEDS_CSUM = 1
NET_HDR_F_DATA_VALID = 2

POISON = 0xA5
_POISON_CACHE = {}


def poison(n):
    b = _POISON_CACHE.get(n)
    if b is None:
        b = _POISON_CACHE[n] = bytes([POISON]) * n
    return b


def bit(n):
    return 1 << n


class VhostError(Exception):
    """The back-end refused a request (ack != 0) or broke the protocol."""


class Closed(VhostError):
    """The back-end closed the connection."""


# --------------------------------------------------------------------------
# Guest memory


class Region:
    """One memory region: a memfd of @file_size bytes (default @size) mapped here in
    full, announced as @size bytes at guest-physical @gpa and "QEMU virtual" @uva,
    starting @mmap_offset bytes into the file. Two regions may share one file
    (@share), as QEMU splits RAM around the PCI hole."""

    def __init__(self, gpa, size, uva=None, mmap_offset=0, file_size=None, share=None,
                 name='ho-guest'):
        self.gpa = gpa
        self.size = size
        self.uva = uva if uva is not None else 0x7f0000000000 + gpa
        self.mmap_offset = mmap_offset
        if share is not None:
            self.fd, self.mm, self.file_size = share.fd, share.mm, share.file_size
            self.owner = False
        else:
            self.file_size = file_size if file_size is not None else mmap_offset + size
            self.fd = os.memfd_create(name, os.MFD_CLOEXEC)
            os.ftruncate(self.fd, self.file_size)
            self.mm = mmap.mmap(self.fd, self.file_size)
            self.owner = True

    def contains(self, gpa, n=1):
        return self.gpa <= gpa and gpa + n <= self.gpa + self.size

    def off(self, gpa):
        """File offset of @gpa (not checked against the file: see GuestMemory.view)."""
        return self.mmap_offset + gpa - self.gpa

    def close(self):
        if self.owner:
            with contextlib.suppress(BufferError, ValueError):
                self.mm.close()
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.owner = False

    def wire(self):
        """The region as SET_MEM_TABLE sends it."""
        return struct.pack('<QQQQ', self.gpa, self.size, self.uva, self.mmap_offset)


class GuestMemory:
    """Guest RAM: regions plus a bump allocator over guest-physical space."""

    def __init__(self, regions):
        self.regions = list(regions)
        self._next = {id(r): r.gpa for r in self.regions}

    @classmethod
    def simple(cls, size=16 << 20, gpa=0):
        return cls([Region(gpa, size)])

    def close(self):
        for r in self.regions:
            r.close()

    def region_of(self, gpa, n=1):
        for r in self.regions:
            if r.contains(gpa, n):
                return r
        return None

    def alloc(self, n, align=64, region=0):
        """@n bytes of guest-physical memory in regions[@region]."""
        r = self.regions[region]
        at = (self._next[id(r)] + align - 1) // align * align
        if at + n > r.gpa + r.size:
            raise MemoryError(f'region {region} full: {n} bytes at 0x{at:x}')
        self._next[id(r)] = at + n
        return at

    def uva(self, gpa):
        """The ring address form (QEMU virtual) of @gpa."""
        r = self.region_of(gpa)
        if r is None:
            raise ValueError(f'gpa 0x{gpa:x} in no region')
        return r.uva + gpa - r.gpa

    def view(self, gpa, n):
        """(mmap, offset) for @n bytes at @gpa; they must lie in one region and its file."""
        r = self.region_of(gpa, n)
        if r is None:
            raise ValueError(f'gpa 0x{gpa:x}+{n} is not inside one region')
        off = r.off(gpa)
        if off + n > r.file_size:
            raise ValueError(f'gpa 0x{gpa:x}+{n} is beyond the region\'s file')
        return r.mm, off

    def read(self, gpa, n):
        mm, off = self.view(gpa, n)
        return mm[off:off + n]

    def read_span(self, gpa, n):
        """@n bytes from @gpa on, across adjacent regions; stops at the first byte that is
        in no region (or beyond its file)."""
        out = b''
        while len(out) < n:
            r = self.region_of(gpa + len(out))
            if r is None:
                break
            at = gpa + len(out)
            k = min(n - len(out), r.gpa + r.size - at, r.file_size - r.off(at))
            if k <= 0:
                break
            out += r.mm[r.off(at):r.off(at) + k]
        return out

    def write(self, gpa, data):
        mm, off = self.view(gpa, len(data))
        mm[off:off + len(data)] = data

    def fill(self, gpa, n, byte=POISON):
        self.write(gpa, poison(n) if byte == POISON else bytes([byte]) * n)

    def is_poison(self, gpa, n):
        mm, off = self.view(gpa, n)
        return mm[off:off + n] == poison(n)

    def pack(self, fmt, gpa, *vals):
        mm, off = self.view(gpa, struct.calcsize(fmt))
        struct.pack_into(fmt, mm, off, *vals)

    def unpack(self, fmt, gpa):
        mm, off = self.view(gpa, struct.calcsize(fmt))
        return struct.unpack_from(fmt, mm, off)

    # Ring indices and flags in one 16-bit load or store, as a driver does: struct
    # reads and writes them a byte at a time, and the device could see a torn index
    # (0x01ff -> 0x0200 read as 0x0100: a ring's worth behind, a broken ring to it).
    # memoryview's native 'H' items are copied whole (x86, aligned).
    def u16(self, gpa):
        mm, off = self.view(gpa, 2)
        with memoryview(mm) as m, m[off:off + 2] as b, b.cast('H') as h:
            return h[0]

    def set_u16(self, gpa, v):
        mm, off = self.view(gpa, 2)
        with memoryview(mm) as m, m[off:off + 2] as b, b.cast('H') as h:
            h[0] = v & 0xffff

    def table(self):
        """SET_MEM_TABLE payload and fds for every region."""
        body = struct.pack('<II', len(self.regions), 0) + b''.join(r.wire() for r in self.regions)
        return body, [r.fd for r in self.regions]


# --------------------------------------------------------------------------
# Split virtqueue, driver side


def ring_sizes(size, event_idx=True):
    """(desc, avail, used) byte sizes of a split ring (event fields always reserved)."""
    return 16 * size, 4 + 2 * size + 2, 4 + 8 * size + 2


class Vring:
    """A split virtqueue in @mem. Addresses are guest-physical; @desc/@avail/@used
    default to a fresh page-aligned allocation. The driver side of the indices lives
    here: ``avail_idx`` (next index to publish) and ``last_used``."""

    def __init__(self, mem, index, size=256, desc=None, avail=None, used=None,
                 event_idx=False, region=0):
        self.mem, self.index, self.size, self.event_idx = mem, index, size, event_idx
        ds, as_, us = ring_sizes(size)
        self.desc = desc if desc is not None else mem.alloc(ds, 4096, region)
        self.avail = avail if avail is not None else mem.alloc(as_, 4096, region)
        self.used = used if used is not None else mem.alloc(us, 4096, region)
        self.reset_indices(0)

    def reset_indices(self, base):
        self.avail_idx = base
        self.last_used = base
        self.free = list(range(self.size))
        self.owner = {}       # head -> (token, descriptor ids)
        self.unexpected = []  # (used position, id, len) for ids the driver never posted

    def clear(self):
        """Zero the ring memory (a fresh ring, as after a device reset)."""
        ds, as_, us = ring_sizes(self.size)
        for gpa, n in ((self.desc, ds), (self.avail, as_), (self.used, us)):
            if self.mem.region_of(gpa, n):
                self.mem.write(gpa, bytes(n))

    def init(self, base=0):
        """A fresh ring starting at index @base: zeroed, and used->idx = @base too, which
        is what a back-end told SET_VRING_BASE @base expects to find."""
        self.clear()
        self.reset_indices(base)
        if base:
            self.mem.set_u16(self.used + 2, base)
            self.set_avail_idx(base)

    def addrs(self):
        """(desc, used, avail) in ring address form for SET_VRING_ADDR."""
        return self.mem.uva(self.desc), self.mem.uva(self.used), self.mem.uva(self.avail)

    # -- raw access -------------------------------------------------------

    def write_desc(self, i, addr, length, flags=0, next_=0):
        self.mem.pack('<QIHH', self.desc + 16 * i, addr, length & 0xffffffff, flags, next_)

    def read_desc(self, i):
        return self.mem.unpack('<QIHH', self.desc + 16 * i)

    def put_avail(self, pos, head):
        """avail->ring[pos % size] = head (nothing published)."""
        self.mem.set_u16(self.avail + 4 + 2 * (pos % self.size), head)

    def set_avail_idx(self, v):
        self.mem.set_u16(self.avail + 2, v)

    def get_avail_idx(self):
        return self.mem.u16(self.avail + 2)

    def set_avail_flags(self, v):
        self.mem.set_u16(self.avail, v)

    def set_used_event(self, v):
        self.mem.set_u16(self.avail + 4 + 2 * self.size, v)

    def used_idx(self):
        return self.mem.u16(self.used + 2)

    def used_flags(self):
        return self.mem.u16(self.used)

    def avail_event(self):
        return self.mem.u16(self.used + 4 + 8 * self.size)

    def used_elem(self, pos):
        return self.mem.unpack('<II', self.used + 4 + 8 * (pos % self.size))

    # -- well-behaved driver ----------------------------------------------

    def add(self, chain, token=None):
        """Post one buffer: @chain is [(gpa, len, writable)], chained with NEXT.
        Returns the head, or None when no descriptor is free or the avail ring holds
        @size entries the device has not used yet. Not yet published."""
        if len(self.free) < len(chain) or self.avail_room() <= 0:
            return None
        ids = [self.free.pop() for _ in chain]
        for k, (gpa, n, w) in enumerate(chain):
            last = k + 1 == len(chain)
            self.write_desc(ids[k], gpa, n, (D_WRITE if w else 0) | (0 if last else D_NEXT),
                            0 if last else ids[k + 1])
        head = ids[0]
        self.owner[head] = (token, ids)
        self.put_avail(self.avail_idx, head)
        self.avail_idx = (self.avail_idx + 1) & 0xffff
        return head

    def publish(self):
        """Make every added buffer visible (the index store comes after the entries:
        x86 keeps stores in order). With event idx, ask for an interrupt on every
        used entry, as a driver that wants them all would."""
        if self.event_idx:
            self.set_used_event(self.last_used)
        self.set_avail_idx(self.avail_idx)

    def take_ids(self, n):
        """@n free descriptor ids for a test to fill by hand (post them with post_head)."""
        if len(self.free) < n:
            raise VhostError(f'vring {self.index}: {n} descriptors wanted, {len(self.free)} free')
        return [self.free.pop() for _ in range(n)]

    def avail_room(self):
        """Avail entries that may still be posted: the ring holds @size not yet used."""
        return self.size - ((self.avail_idx - self.last_used) & 0xffff)

    def post_head(self, head, ids, token=None):
        """Put @head in the avail ring; @ids (the descriptors it uses) come back free with
        its used entry. Not yet published."""
        if self.avail_room() <= 0:
            raise VhostError(f'vring {self.index}: avail ring full')
        self.owner[head] = (token, list(ids))
        self.put_avail(self.avail_idx, head)
        self.avail_idx = (self.avail_idx + 1) & 0xffff

    def take_used(self):
        """New used entries: [(head, len, token)], their descriptors freed. An id the
        driver never posted (or posted once and got back twice) is recorded in
        ``unexpected`` and skipped: a host bug for the test to judge, not a crash here."""
        out = []
        end = self.used_idx()
        guard = 0
        while self.last_used != end and guard < 65536:
            guard += 1
            hid, n = self.used_elem(self.last_used)
            pos = self.last_used
            self.last_used = (self.last_used + 1) & 0xffff
            ent = self.owner.pop(hid, None)
            if ent is None:
                self.unexpected.append((pos, hid, n))
                continue
            token, ids = ent
            self.free.extend(ids)
            out.append((hid, n, token))
        if self.event_idx:
            self.set_used_event(self.last_used)
        return out

    def outstanding(self):
        return len(self.owner)

    def kick_wanted(self, old_avail):
        """Does the device want a kick for avail entries old_avail..avail_idx?"""
        if self.event_idx:
            ev = self.avail_event()
            return ((self.avail_idx - ev - 1) & 0xffff) < ((self.avail_idx - old_avail) & 0xffff)
        return not (self.used_flags() & USED_F_NO_NOTIFY)


# --------------------------------------------------------------------------
# The conversation


def eventfd():
    return os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)


class Frontend:
    """A vhost-user connection, front-end side."""

    def __init__(self, sock, name='fe'):
        self.sock = sock
        self.name = name
        self.sock.settimeout(5.0)
        self.reply_ack = False
        self.log = []   # (request, flags, size, nfds) sent, for failure messages
        self.last_fds = []  # fds that came with the last reply (GET_INFLIGHT_FD)

    @classmethod
    def connect(cls, path, timeout=10.0, name='fe'):
        """Connect to a back-end listening on @path (vfrelay vhost_mode = server)."""
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                s.connect(path)
                return cls(s, name)
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def fileno(self):
        return self.sock.fileno()

    # -- raw ----------------------------------------------------------------

    def send(self, req, payload=b'', fds=(), flags=VERSION, size=None, header_only=False):
        """Send anything: @size overrides the header's size field, @header_only
        leaves the payload out (the back-end then waits for it)."""
        hdr = HDR.pack(int(req), flags, len(payload) if size is None else size)
        data = hdr if header_only else hdr + payload
        self.log.append((int(req), flags, len(payload), len(fds)))
        try:
            if fds:
                socket.send_fds(self.sock, [data], list(fds))
            else:
                self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(f'{self.name}: connection closed sending {_rname(req)}: {e}') from None

    def _recv_exact(self, n, what):
        buf = b''
        fds = []
        while len(buf) < n:
            try:
                data, got_fds, _flags, _addr = socket.recv_fds(self.sock, n - len(buf), MAX_FDS)
            except socket.timeout:
                raise VhostError(f'{self.name}: no reply to {what} within '
                                 f'{self.sock.gettimeout()} s') from None
            except ConnectionResetError:
                data, got_fds = b'', []
            if not data:
                raise Closed(f'{self.name}: connection closed waiting for the reply to {what}')
            buf += data
            fds += got_fds
        return buf, fds

    def recv(self, what='a reply'):
        """One message from the back-end: (request, flags, payload, fds)."""
        hdr, fds = self._recv_exact(HDR.size, what)
        req, flags, size = HDR.unpack(hdr)
        payload = b''
        if size:
            payload, more = self._recv_exact(size, what)
            fds += more
        return req, flags, payload, fds

    def call(self, req, payload=b'', fds=(), ack=None, check=True):
        """Send @req; read its reply if it has one (REPLIES) or if an ack is asked
        (@ack, default: whenever REPLY_ACK was negotiated). Returns the reply payload
        (bytes) for replies, the u64 status for acks, None otherwise."""
        want_ack = self.reply_ack if ack is None else ack
        has_reply = req in REPLIES
        flags = VERSION | (F_NEED_REPLY if want_ack and not has_reply else 0)
        self.send(req, payload, fds, flags)
        if has_reply:
            rreq, rflags, body, rfds = self.recv(_rname(req))
            if rreq != req or not rflags & F_REPLY:
                raise VhostError(f'{self.name}: reply to {_rname(req)} has request {rreq} '
                                 f'flags 0x{rflags:x}')
            self.last_fds = rfds
            return body
        if flags & F_NEED_REPLY:
            rreq, rflags, body, _ = self.recv(f'the ack of {_rname(req)}')
            status = struct.unpack('<Q', body[:8])[0] if len(body) >= 8 else None
            if rreq != req or status is None:
                raise VhostError(f'{self.name}: bad ack for {_rname(req)}: request {rreq}, '
                                 f'{len(body)} bytes')
            if check and status != 0:
                raise VhostError(f'{self.name}: {_rname(req)} refused (status {status})')
            return status
        return None

    # -- one method per request ----------------------------------------------

    def get_features(self):
        return struct.unpack('<Q', self.call(Req.GET_FEATURES))[0]

    def set_features(self, f, **kw):
        return self.call(Req.SET_FEATURES, struct.pack('<Q', f), **kw)

    def get_protocol_features(self):
        return struct.unpack('<Q', self.call(Req.GET_PROTOCOL_FEATURES))[0]

    def set_protocol_features(self, f, **kw):
        r = self.call(Req.SET_PROTOCOL_FEATURES, struct.pack('<Q', f), ack=False, **kw)
        self.reply_ack = bool(f & bit(PF_REPLY_ACK))
        return r

    def get_queue_num(self):
        return struct.unpack('<Q', self.call(Req.GET_QUEUE_NUM))[0]

    def set_owner(self, **kw):
        return self.call(Req.SET_OWNER, **kw)

    def reset_owner(self, **kw):
        return self.call(Req.RESET_OWNER, **kw)

    def set_mem_table(self, mem, **kw):
        body, fds = mem.table()
        return self.call(Req.SET_MEM_TABLE, body, fds, **kw)

    def set_vring_num(self, i, num, **kw):
        return self.call(Req.SET_VRING_NUM, struct.pack('<II', i, num), **kw)

    def set_vring_base(self, i, num, **kw):
        return self.call(Req.SET_VRING_BASE, struct.pack('<II', i, num), **kw)

    def get_vring_base(self, i):
        body = self.call(Req.GET_VRING_BASE, struct.pack('<II', i, 0))
        return struct.unpack('<II', body[:8])[1]

    def set_vring_addr(self, i, desc, used, avail, log=0, flags=0, **kw):
        return self.call(Req.SET_VRING_ADDR,
                         struct.pack('<IIQQQQ', i, flags, desc, used, avail, log), **kw)

    def _vring_fd(self, req, i, fd, **kw):
        if fd is None:
            return self.call(req, struct.pack('<Q', i | VRING_NOFD), **kw)
        return self.call(req, struct.pack('<Q', i), [fd], **kw)

    def set_vring_kick(self, i, fd, **kw):
        return self._vring_fd(Req.SET_VRING_KICK, i, fd, **kw)

    def set_vring_call(self, i, fd, **kw):
        return self._vring_fd(Req.SET_VRING_CALL, i, fd, **kw)

    def set_vring_err(self, i, fd, **kw):
        return self._vring_fd(Req.SET_VRING_ERR, i, fd, **kw)

    def set_vring_enable(self, i, on, **kw):
        return self.call(Req.SET_VRING_ENABLE, struct.pack('<II', i, 1 if on else 0), **kw)

    def set_log_base(self, fd, size, offset=0):
        return self.call(Req.SET_LOG_BASE, struct.pack('<QQ', size, offset), [fd])

    def get_inflight_fd(self, num_queues, queue_size):
        return self.call(Req.GET_INFLIGHT_FD, struct.pack('<QQHH4x', 0, 0, num_queues,
                                                          queue_size))

    def set_inflight_fd(self, fd, mmap_size, mmap_offset, num_queues, queue_size, **kw):
        return self.call(Req.SET_INFLIGHT_FD, struct.pack('<QQHH4x', mmap_size, mmap_offset,
                                                          num_queues, queue_size), [fd], **kw)

    def setup_vring(self, ring, kick, call, base=0, enable=None):
        """NUM, BASE, ADDR, KICK, CALL for @ring (then ENABLE if @enable is not None)."""
        self.set_vring_num(ring.index, ring.size)
        self.set_vring_base(ring.index, base)
        self.set_vring_addr(ring.index, *ring.addrs())
        self.set_vring_kick(ring.index, kick)
        self.set_vring_call(ring.index, call)
        if enable is not None:
            self.set_vring_enable(ring.index, enable)


def _rname(req):
    try:
        return Req(req).name
    except ValueError:
        return f'request {int(req)}'


class Listener:
    """A server socket vfrelay (vhost_mode = client) connects to."""

    def __init__(self, path):
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        self.sock.listen(4)

    def accept(self, timeout=15.0, name='fe'):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise VhostError(f'nobody connected to {self.path} within {timeout} s')
        s, _ = self.sock.accept()
        return Frontend(s, name)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


# --------------------------------------------------------------------------
# A well-behaved virtio-net driver


RX, TX = 0, 1
DEFAULT_FEATURES = bit(F_VERSION_1) | bit(F_MRG_RXBUF) | bit(F_PROTOCOL_FEATURES)
DEFAULT_PROTOCOL = bit(PF_REPLY_ACK)


class VirtioNet:
    """One queue pair of a virtio-net device driven by the test.

    @want: features to negotiate (intersected with what the back-end offers);
    @rx_buf: bytes per RX buffer (header included); @quarantine: buffers a returned
    RX buffer waits behind before it is checked and posted again."""

    def __init__(self, fe, mem=None, qsize=256, rx_buf=2048, want=DEFAULT_FEATURES,
                 protocol=DEFAULT_PROTOCOL, event_idx=False, n_rx_bufs=None, quarantine=64,
                 tx_buf=2048):
        self.fe = fe
        self.own_mem = mem is None
        self.mem = mem or GuestMemory.simple(32 << 20)
        self.qsize = qsize
        self.rx_buf = rx_buf
        self.tx_buf = tx_buf
        self.want = want | (bit(F_EVENT_IDX) if event_idx else 0)
        self.protocol = protocol
        self.event_idx = event_idx
        self.quarantine_len = quarantine
        self.rings = [Vring(self.mem, RX, qsize, event_idx=event_idx),
                      Vring(self.mem, TX, qsize, event_idx=event_idx)]
        self.kick = [eventfd(), eventfd()]
        self.callfd = [eventfd(), eventfd()]
        n = n_rx_bufs or qsize + quarantine + 32
        self.rx_bufs = [self.mem.alloc(rx_buf, 64) for _ in range(n)]
        self.tx_bufs = [self.mem.alloc(tx_buf, 64) for _ in range(qsize)]
        self.tx_free = list(range(qsize))
        self.rx_idle = []                # buffer indices poisoned, not posted
        self.features = 0
        self.hdr_len = 12
        self.stale_writes = []           # (buffer gpa, offset, byte)
        self.bad_rx = []                 # protocol violations by the host on RX
        self.rx_frames = 0
        self.tx_frames = 0
        self._partial = None             # frame being merged: [bytes, buffers left]
        self.raw_used = []               # (tag, len) of used raw posts
        for i, gpa in enumerate(self.rx_bufs):
            self.mem.fill(gpa, rx_buf)
            self.rx_idle.append(i)

    # -- bring-up ------------------------------------------------------------

    def negotiate(self):
        offered = self.fe.get_features()
        self.features = offered & self.want
        if self.features & bit(F_PROTOCOL_FEATURES):
            pf = self.fe.get_protocol_features() & self.protocol
            self.fe.set_protocol_features(pf)
        self.fe.set_owner()
        self.fe.set_features(self.features)
        self.hdr_len = 12 if self.features & (bit(F_MRG_RXBUF) | bit(F_VERSION_1)) else 10
        return self.features

    def start(self, post=True, enable=True):
        """The handshake QEMU does, then post RX buffers: the device becomes ready."""
        self.negotiate()
        self.fe.set_mem_table(self.mem)
        for r in self.rings:
            r.init(0)
            self.fe.setup_vring(r, self.kick[r.index], self.callfd[r.index])
        if post:
            self.rx_post()
        if enable:
            for r in self.rings:
                self.fe.set_vring_enable(r.index, True)
        return self

    def restart_ring(self, i, base=None, enable=True):
        """Set vring @i up again after a GET_VRING_BASE (fresh fds, same memory)."""
        r = self.rings[i]
        base = r.last_used if base is None else base
        for fds in (self.kick, self.callfd):
            with contextlib.suppress(OSError):
                os.close(fds[i])
            fds[i] = eventfd()
        self.fe.setup_vring(r, self.kick[i], self.callfd[i], base=base)
        if enable:
            self.fe.set_vring_enable(i, True)

    def close(self):
        self.fe.close()
        for fd in self.kick + self.callfd:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.kick, self.callfd = [], []
        if self.own_mem:
            self.mem.close()

    # -- RX --------------------------------------------------------------------

    def rx_post(self, n=None):
        """Post up to @n idle RX buffers (default: fill the ring), oldest first, each
        checked to be still POISON. Kicks if the device asks for it."""
        r = self.rings[RX]
        old = r.avail_idx
        posted = 0
        keep = self.quarantine_len
        while self.rx_idle and len(self.rx_idle) > keep and (n is None or posted < n):
            i = self.rx_idle[0]
            if r.add([(self.rx_bufs[i], self.rx_buf, True)], token=i) is None:
                break
            self.rx_idle.pop(0)
            self._check_poison(i)
            posted += 1
        if posted:
            r.publish()
            if r.kick_wanted(old) and self.kick:
                os.eventfd_write(self.kick[RX], 1)
        return posted

    def _check_poison(self, i):
        gpa = self.rx_bufs[i]
        if not self.mem.is_poison(gpa, self.rx_buf):
            data = self.mem.read(gpa, self.rx_buf)
            off = next(k for k, b in enumerate(data) if b != POISON)
            self.stale_writes.append((gpa, off, data[off]))
            self.mem.fill(gpa, self.rx_buf)

    def rx_take(self, i, n):
        """Buffer @i came back with @n bytes: return them, poison it, queue it."""
        gpa = self.rx_bufs[i]
        if n > self.rx_buf:
            self.bad_rx.append(f'used len {n} > buffer {self.rx_buf}')
            n = self.rx_buf
        data = self.mem.read(gpa, n)
        self.mem.fill(gpa, self.rx_buf)
        self.rx_idle.append(i)
        return data

    def post_raw(self, head, ids, segs, tag='raw'):
        """Post a hand-made RX entry (descriptors @ids already written by the test, @head
        first). @segs: [(gpa, len)] where a correct host would write the data, in order;
        a used entry for it is read from there. Not published."""
        self.rings[RX].post_head(head, ids, ('raw', tag, segs))

    def _raw_data(self, segs, n):
        out = b''
        for gpa, ln in segs:
            if len(out) >= n:
                break
            out += self.mem.read_span(gpa, min(ln, n - len(out)))
        return out

    def rx_poll(self, repost=True):
        """Frames completed since the last call (bytes, virtio-net header removed).
        Used entries of raw posts are recorded in ``raw_used`` (tag, len) and their data
        joins the frames like any buffer's."""
        frames = []
        for _head, n, i in self.rings[RX].take_used():
            if isinstance(i, tuple):
                _kind, tag, segs = i
                self.raw_used.append((tag, n))
                if n == 0:
                    continue
                data = self._raw_data(segs, n)
            else:
                data = self.rx_take(i, n)
            if self._partial is not None:
                self._partial[0] += data
                self._partial[1] -= 1
            else:
                if len(data) < self.hdr_len:
                    if n != 0:
                        self.bad_rx.append(f'used len {n} shorter than the header')
                    continue
                hdr = NET_HDR.unpack(data[:10] + b'\0\0' if self.hdr_len == 10
                                     else data[:12])
                nb = hdr[6] if self.features & bit(F_MRG_RXBUF) else 1
                if nb == 0:
                    self.bad_rx.append('num_buffers 0')
                    nb = 1
                self._partial = [data[self.hdr_len:], nb - 1]
            if self._partial[1] <= 0:
                frames.append(bytes(self._partial[0]))
                self._partial = None
        self.rx_frames += len(frames)
        if repost:
            self.rx_post()
        return frames

    def rx_reclaim_all(self):
        """The ring has stopped (GET_VRING_BASE answered, or the device is gone): every
        buffer is the driver's again. Harvest what was completed, poison the rest."""
        with contextlib.suppress(VhostError, ValueError):
            self.rx_poll(repost=False)
        r = self.rings[RX]
        for _head, (i, _ids) in list(r.owner.items()):
            if isinstance(i, int):
                self.mem.fill(self.rx_bufs[i], self.rx_buf)
                self.rx_idle.append(i)
        r.owner.clear()
        r.free = list(range(r.size))
        self._partial = None

    def check_posted_poison(self):
        """Posted buffers the host has not returned must still be POISON when the ring is
        stopped (after GET_VRING_BASE); returns how many were not."""
        before = len(self.stale_writes)
        for i, _ids in list(self.rings[RX].owner.values()):
            if isinstance(i, int):
                self._check_poison(i)
        return len(self.stale_writes) - before

    def check_all_poison(self):
        """Every buffer the host does not own must still be POISON; returns how many
        were not (recorded in stale_writes)."""
        before = len(self.stale_writes)
        posted = {i for (i, _ids) in self.rings[RX].owner.values() if isinstance(i, int)}
        for i in range(len(self.rx_bufs)):
            if i not in posted:
                self._check_poison(i)
        return len(self.stale_writes) - before

    # -- TX --------------------------------------------------------------------

    def tx_reclaim(self):
        for _head, _n, i in self.rings[TX].take_used():
            # Entries a test posted by hand carry its own token, not one of our buffers.
            if isinstance(i, int):
                self.tx_free.append(i)

    def tx_send(self, frame, hdr=None, kick=True):
        """Queue one frame (header + frame in one read-only descriptor). False when the
        ring is full."""
        self.tx_reclaim()
        if not self.tx_free:
            return False
        h = hdr if hdr is not None else bytes(self.hdr_len)
        if len(h) + len(frame) > self.tx_buf:
            raise ValueError(f'frame of {len(frame)} bytes does not fit a TX buffer')
        i = self.tx_free.pop()
        gpa = self.tx_bufs[i]
        self.mem.write(gpa, h + frame)
        r = self.rings[TX]
        old = r.avail_idx
        if r.add([(gpa, len(h) + len(frame), False)], token=i) is None:
            self.tx_free.append(i)
            return False
        r.publish()
        self.tx_frames += 1
        if kick and r.kick_wanted(old) and self.kick:
            os.eventfd_write(self.kick[TX], 1)
        return True

    def tx_wait_done(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.rings[TX].outstanding() and time.monotonic() < deadline:
            self.tx_reclaim()
            time.sleep(0.002)
        return self.rings[TX].outstanding() == 0

    # -- stop ------------------------------------------------------------------

    def stop(self):
        """Graceful stop as virtio_user/QEMU do it: disable both rings, then
        GET_VRING_BASE each (the host stops using the ring before it answers).
        Returns the two bases."""
        bases = []
        for r in self.rings:
            self.fe.set_vring_enable(r.index, False)
        for r in self.rings:
            bases.append(self.fe.get_vring_base(r.index))
        self.rx_reclaim_all()
        self.tx_reclaim()
        return bases
