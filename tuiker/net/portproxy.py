"""Published ports on the host side: the port held, and a userland proxy where NAT does not reach.

For each published port the monitor binds the host port itself (TCP: listening, UDP: bound), as docker's
docker-proxy does, for two reasons:

- Holding the port is what makes "port already in use" a clear error BEFORE the container starts
  (`Bind for 0.0.0.0:8080 failed: port is already allocated`), and keeps any other program from binding it
  later and silently losing its traffic to our DNAT rule.
- Connections that the nftables rules do not rewrite reach these sockets, and are relayed to the container:
  IPv6 ones (to [::1]:8080 or the host's IPv6 addresses; our rules are IPv4 only and the containers have no
  IPv6 address), and IPv4 ones should our table be gone (flushed by hand). IPv4 traffic normally never
  gets here: DNAT in prerouting and output redirects it before the socket layer sees it, at kernel speed.

Everything runs in the monitor's single-threaded selector loop: sockets are registered with the data
("net", callback), and the monitor calls callback(events). Buffers are bounded: a side that cannot keep up
stops reading from the other until it has drained.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time

from tuiker.base.errors import TuikerError

BUFFER_LIMIT = 256 * 1024
UDP_IDLE = 60.0  # a UDP "flow" (one client address) is forgotten after this long without traffic
UDP_MAX_FLOWS = 1024


class PortInUse(TuikerError):
    pass


def _bind_error(host_ip: str, port: int, e: OSError) -> PortInUse:
    shown = f"{host_ip or '0.0.0.0'}:{port}"
    if e.errno == errno.EADDRINUSE:
        return PortInUse(f"Bind for {shown} failed: port is already allocated")
    return PortInUse(f"Bind for {shown} failed: {e.strerror.lower() if e.strerror else e}")


def _ipv6_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class PortProxy:
    """Every published port of every running container of one monitor, with their relayed connections."""

    def __init__(self, sel: selectors.BaseSelector) -> None:
        self.sel = sel
        self.owned: dict[str, list] = {}  # container id -> its listeners and live relays
        self._v6: bool | None = None

    # -- opening and closing -----------------------------------------------------------------------

    def open(self, owner: str, bindings: list[dict], target_ip: str) -> list[dict]:
        """Bind every binding for `owner` and relay to target_ip; returns them with HostIp and HostPort as
        bound (a random port filled in). Raises PortInUse, having closed whatever it had opened."""
        if self._v6 is None:
            self._v6 = _ipv6_available()
        done = []
        try:
            for b in bindings:
                done.append(self._open_one(owner, b, target_ip))
        except BaseException:
            self.close(owner)
            raise
        return done

    def _open_one(self, owner: str, b: dict, target_ip: str) -> dict:
        proto, host_ip = b["Proto"], "" if b["HostIp"] == "0.0.0.0" else b["HostIp"]
        port = int(b["HostPort"] or 0)
        for _attempt in range(20):
            socks = []
            try:
                v4 = self._socket(socket.AF_INET, proto)
                socks.append(v4)
                try:
                    v4.bind((host_ip or "0.0.0.0", port))
                except OSError as e:
                    raise _bind_error(host_ip, port, e) from None
                chosen = v4.getsockname()[1]
                if not host_ip and self._v6:
                    v6 = self._socket(socket.AF_INET6, proto)
                    socks.append(v6)
                    v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    try:
                        v6.bind(("::", chosen))
                    except OSError as e:
                        if port == 0 and e.errno == errno.EADDRINUSE:
                            raise _Retry from None  # the random port is free on IPv4 only: pick another
                        raise _bind_error("::", chosen, e) from None
            except _Retry:
                for s in socks:
                    s.close()
                continue
            except BaseException:
                for s in socks:
                    s.close()
                raise
            target = (target_ip, int(b["ContainerPort"]))
            for s in socks:
                if proto == "tcp":
                    s.listen(128)
                    relay = _TcpListener(self, owner, s, target)
                else:
                    relay = _UdpRelay(self, owner, s, target)
                self._register(owner, s, relay.event)
            return dict(b, HostIp=host_ip or "0.0.0.0", HostPort=str(chosen))
        raise PortInUse("Bind for 0.0.0.0:0 failed: no free port found for both IPv4 and IPv6")

    @staticmethod
    def _socket(family: int, proto: str) -> socket.socket:
        s = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        s.setblocking(False)
        if proto == "tcp":
            # TIME_WAIT connections of a previous container on this port must not block the next one.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return s

    def _register(self, owner: str, sock: socket.socket, callback, events: int = selectors.EVENT_READ) -> None:
        """Own `sock` for `owner` (closed with it) and watch it for `events` (0: not yet)."""
        self.owned.setdefault(owner, []).append(sock)
        self._want(sock, callback, events)

    def _want(self, sock: socket.socket, callback, events: int) -> None:
        """Watch `sock` for exactly `events`; 0 stops watching (a paused side of a relay)."""
        try:
            registered = self.sel.get_map().get(sock) is not None
            if not events:
                if registered:
                    self.sel.unregister(sock)
            elif registered:
                self.sel.modify(sock, events, ("net", callback))
            else:
                self.sel.register(sock, events, ("net", callback))
        except (KeyError, ValueError, OSError):
            pass

    def _forget(self, owner: str, sock: socket.socket) -> None:
        self._want(sock, None, 0)
        sock.close()
        items = self.owned.get(owner)
        if items and sock in items:
            items.remove(sock)

    def close(self, owner: str) -> None:
        """Close every listener and relayed connection of `owner` (its container stopped or failed)."""
        for sock in self.owned.pop(owner, []):
            self._want(sock, None, 0)
            sock.close()

    def owners(self) -> list[str]:
        return list(self.owned)


class _Retry(Exception):
    pass


class _TcpListener:
    def __init__(self, proxy: PortProxy, owner: str, sock: socket.socket, target: tuple[str, int]) -> None:
        self.proxy, self.owner, self.sock, self.target = proxy, owner, sock, target

    def event(self, _events: int) -> None:
        for _ in range(64):
            try:
                client, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            client.setblocking(False)
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setblocking(False)
            err = upstream.connect_ex(self.target)
            if err not in (0, errno.EINPROGRESS):
                client.close()
                upstream.close()
                continue
            _TcpRelay(self.proxy, self.owner, client, upstream)


class _Side:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out = bytearray()  # waiting to be written to this side
        self.eof = False  # this side sent EOF (read returned b"")
        self.shut = False  # we shut down writing to this side
        self.callback = None


class _TcpRelay:
    """One relayed connection: bytes both ways, half-closes passed on, both closed when both are done."""

    def __init__(self, proxy: PortProxy, owner: str, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.owner = proxy, owner
        self.a, self.b = _Side(client), _Side(upstream)
        self.connected = False
        self.closed = False
        self.a.callback = lambda events: self.event(self.a, events)
        self.b.callback = lambda events: self.event(self.b, events)
        proxy._register(owner, client, self.a.callback, 0)  # read the client once the container answers
        proxy._register(owner, upstream, self.b.callback, selectors.EVENT_WRITE)

    def other(self, side: _Side) -> _Side:
        return self.b if side is self.a else self.a

    def event(self, side: _Side, events: int) -> None:
        if self.closed:
            return
        if not self.connected:
            if side is not self.b:
                return
            if side.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.close()
                return
            self.connected = True
        if events & selectors.EVENT_WRITE:
            self.flush(side)
        if events & selectors.EVENT_READ and not side.eof:
            other = self.other(side)
            try:
                data = side.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self.close()
                return
            if data == b"":
                side.eof = True
            elif data:
                other.out += data
                self.flush(other)
        if self.closed:
            return
        self.update()

    def flush(self, side: _Side) -> None:
        if not send_buffered(side.sock, side.out):
            self.close()

    def update(self) -> None:
        for side in (self.a, self.b):
            other = self.other(side)
            if other.eof and not other.out and not side.shut and not side.out:
                try:
                    side.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                side.shut = True
        if (self.a.eof and self.b.eof and not self.a.out and not self.b.out) or (
                self.a.shut and self.b.shut):
            self.close()
            return
        for side in (self.a, self.b):
            other = self.other(side)
            want = 0
            if not side.eof and len(other.out) < BUFFER_LIMIT:
                want |= selectors.EVENT_READ
            if side.out:
                want |= selectors.EVENT_WRITE
            self.proxy._want(side.sock, side.callback, want)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for side in (self.a, self.b):
            self.proxy._forget(self.owner, side.sock)


class _UdpRelay:
    """Datagrams from any client to the container, and its answers back to that client."""

    def __init__(self, proxy: PortProxy, owner: str, sock: socket.socket, target: tuple[str, int]) -> None:
        self.proxy, self.owner, self.sock, self.target = proxy, owner, sock, target
        self.flows: dict[tuple, tuple[socket.socket, list[float]]] = {}

    def event(self, _events: int) -> None:
        for _ in range(64):
            try:
                data, client = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            flow = self.flows.get(client)
            if flow is None:
                self.expire()
                if len(self.flows) >= UDP_MAX_FLOWS:
                    continue
                upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                upstream.setblocking(False)
                try:
                    upstream.connect(self.target)
                except OSError:
                    upstream.close()
                    continue
                flow = (upstream, [time.monotonic()])
                self.flows[client] = flow
                self.proxy._register(self.owner, upstream, lambda events, c=client: self.answer(c, events))
            flow[1][0] = time.monotonic()
            try:
                flow[0].send(data)
            except OSError:
                pass

    def answer(self, client: tuple, events: int) -> None:
        flow = self.flows.get(client)
        if flow is None:
            return
        for _ in range(64):
            try:
                data = flow[0].recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            flow[1][0] = time.monotonic()
            try:
                self.sock.sendto(data, client)
            except OSError:
                pass

    def expire(self) -> None:
        now = time.monotonic()
        for client, (upstream, last) in list(self.flows.items()):
            if now - last[0] > UDP_IDLE:
                del self.flows[client]
                self.proxy._forget(self.owner, upstream)


def send_buffered(sock: socket.socket, buf: bytearray) -> bool:
    """Send what a non-blocking socket takes now off the front of `buf`; False once the peer is gone.
    The monitor's clients and the relay's two sides both write this way."""
    try:
        while buf:
            del buf[:sock.send(buf)]
    except (BlockingIOError, InterruptedError):
        pass
    except OSError:
        return False
    return True
