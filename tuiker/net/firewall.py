"""NAT, published ports and isolation with nftables: one table of our own per engine root.

Why nftables and not iptables: a table of our own holds every rule tuiker makes and nothing else, so
finding "our" rules needs no comment matching, and removing them all is `delete table` (iptables has
fixed, shared tables where our rules would sit among the user's, docker's, and every other tool's). One
`nft -f` transaction replaces the whole table atomically, so a reader never sees half a ruleset; and
Debian 12's `iptables` is itself iptables-nft, a translation layer over the same kernel code.

Why the whole table every time: the table is small (one line per network, one map element per published
port) and rendered from what the monitor knows, so each change is one atomic replace that also heals any
drift (someone flushed it, a kill -9 left a stale element). The monitor is the only writer of its root's
table. It calls libnftables in-process (ctypes; 1-3 ms) rather than running the `nft` binary (~25 ms);
without the library it falls back to `nft -f -`.

    table ip tuiker {
      set bridges { our bridges }          set subnets { our subnets }
      map tcp_ip  { host ip . port : container ip . port }    map tcp_any { port : container ip . port }
      map udp_ip, udp_any (the same for UDP)
      chain localnet    (filter, raw)  : from a bridge, loopback (127.0.0.0/8) as destination or source: drop
      chain prerouting  (nat, dstnat)  : to a local address but 127/8 -> publish    (other hosts, containers)
      chain output      (nat, dstnat)  : to a local address -> publish    (host processes, 127.0.0.1 too)
      chain publish                    : DNAT through the four maps
      chain postrouting (nat, srcnat)  : masquerade: loopback sources into a bridge (needs route_localnet),
                                         our subnets to a published port on a bridge (hairpin), and each
                                         subnet going out anywhere but its own bridge (outbound NAT)
      chain forward     (filter)       : DNAT-ed traffic passes; otherwise one bridge of ours to another
                                         of ours is dropped (networks are isolated from each other)
    }

The host's loopback (the CVE-2020-8558 class). Two paths would reach it from outside the host:
- route_localnet, which our bridges need so that a host process's connection to a published port on 127.0.0.1
  can be DNAT'd to a bridge, also stops the kernel dropping 127.0.0.0/8 as a martian when it *arrives* on the
  bridge: a container with CAP_NET_RAW would reach every service bound to the host's loopback (a frame to the
  gateway's MAC, to 127.0.0.1 or any 127/8 address), and could spoof a loopback source (127.0.0.2: only the
  addresses configured on lo are refused) towards services elsewhere on the host that trust 127/8. The localnet
  chain drops both. It hooks at raw priority, before conntrack, where a packet still carries the addresses it
  had on the wire: the replies of a host -> 127.0.0.1:PORT -> container connection come back addressed to the
  gateway (the loopback source was masqueraded) and only become 127.0.0.1 at conntrack's de-NAT, so they pass; a
  filter-priority rule sees them as 127.0.0.1 and breaks the published port. Nothing legitimate comes from a
  bridge with a 127/8 source or destination (a container's own loopback never leaves it).
- DNAT in prerouting runs before the routing decision that would drop a 127/8 destination arriving on the
  host's other interfaces (no route_localnet there): a neighbor on the LAN sending to 127.0.0.1:PORT with our MAC
  would reach a container published "on 127.0.0.1 only". So prerouting never publishes a loopback destination;
  the host's own processes reach those ports through the output chain.
Why rules, as kube-proxy does, rather than reaching 127.0.0.1 through the monitor's userland relay (no DNAT, no
route_localnet at all): DNAT keeps the loopback path at kernel speed (bench/net) and costs the monitor no socket
per connection, and the rules are three lines in a table that is rebuilt whole.

What a container still reaches on the host, as with docker: the host's own addresses (its gateway, other
bridges' gateways, the host's interfaces), so services bound to 0.0.0.0 or [::] (through the bridge's IPv6
link-local address, fe80::, too). IPv6 needs no rule: the kernel drops ::1 as source or destination on any device
but lo (RFC 4291 2.5.3, ip6_rcv_core), and ::ffff:127.0.0.1 is not a local IPv6 address.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess

from tuiker.base.errors import TuikerError


class FirewallError(TuikerError):
    pass


OWNER_PREFIX = "tuiker:"


class _Nft:
    """libnftables through ctypes: nft_run_cmd_from_buffer() with the text `nft -f` would read."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        lib = ctypes.CDLL(name)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        for fn in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
        for fn in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p]
            getattr(lib, fn).restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_buffer_output(self.ctx)
        lib.nft_ctx_buffer_error(self.ctx)

    def run(self, text: str) -> tuple[int, str, str]:
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, text.encode())
        out = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode(errors="replace")
        err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode(errors="replace")
        return rc, out, err


_NFT: _Nft | None = None


def nft(text: str) -> str:
    """Run nft commands (one transaction); returns their output, raises FirewallError with nft's message."""
    global _NFT
    if _NFT is None:
        try:
            _NFT = _Nft()
        except OSError:
            _NFT = None
    if _NFT is not None:
        rc, out, err = _NFT.run(text)
    else:
        binary = shutil.which("nft")
        if binary is None:
            raise FirewallError("nftables is not installed (apt-get install nftables): container networking"
                                " needs it for NAT and published ports")
        proc = subprocess.run([binary, "-f", "-"], input=text, capture_output=True, text=True)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    if rc != 0:
        first = next((line for line in err.splitlines() if line.strip()), "unknown error")
        raise FirewallError(f"nftables refused the rules: {first.strip()}")
    return out


class Rules:
    """What the table must hold: networks (bridge, subnet, internal) and published ports."""

    def __init__(self, owner: str = "") -> None:
        self.owner = owner  # the engine root, in the table's comment: how an orphaned table is recognised
        self.networks: list[tuple[str, str, bool]] = []
        # (host ip or "" for any, host port, proto, container ip, container port)
        self.ports: list[tuple[str, int, str, str, int]] = []

    def render(self, table: str) -> str:
        bridges = sorted({b for b, _s, _i in self.networks})
        subnets = sorted({s for _b, s, _i in self.networks})
        maps = {"tcp_ip": [], "tcp_any": [], "udp_ip": [], "udp_any": []}
        for host_ip, host_port, proto, cip, cport in sorted(set(self.ports)):
            if host_ip:
                maps[f"{proto}_ip"].append(f"{host_ip} . {host_port} : {cip} . {cport}")
            else:
                maps[f"{proto}_any"].append(f"{host_port} : {cip} . {cport}")

        def elements(items: list[str]) -> str:
            return f"; elements = {{ {', '.join(items)} }};" if items else ";"

        quoted = [f'"{b}"' for b in bridges]
        lines = [f"table ip {table} {{"]
        if self.owner and '"' not in self.owner:
            lines.append(f'  comment "{OWNER_PREFIX}{self.owner}";')
        lines += [
                 f"  set bridges {{ type ifname{elements(quoted)} }}",
                 f"  set subnets {{ type ipv4_addr; flags interval{elements(subnets)} }}"]
        for name, items in maps.items():
            key = "ipv4_addr . inet_service" if name.endswith("_ip") else "inet_service"
            lines.append(f"  map {name} {{ type {key} : ipv4_addr . inet_service{elements(items)} }}")
        lines += [
            # Before conntrack (raw): the addresses as they came from the container (see the docstring).
            "  chain localnet { type filter hook prerouting priority raw; policy accept;",
            "    iifname @bridges ip daddr 127.0.0.0/8 drop",
            "    iifname @bridges ip saddr 127.0.0.0/8 drop", "  }",
            "  chain prerouting { type nat hook prerouting priority dstnat; policy accept;",
            # A loopback destination from the wire is never published (see the docstring): only the host's own
            # processes reach 127.0.0.1 ports, through the output chain.
            "    fib daddr type local ip daddr != 127.0.0.0/8 jump publish", "  }",
            "  chain output { type nat hook output priority -100; policy accept;",
            "    fib daddr type local jump publish", "  }",
            "  chain publish {",
            "    dnat ip to ip daddr . tcp dport map @tcp_ip",
            "    dnat ip to tcp dport map @tcp_any",
            "    dnat ip to ip daddr . udp dport map @udp_ip",
            "    dnat ip to udp dport map @udp_any", "  }",
            "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;",
            "    oifname @bridges ip saddr 127.0.0.0/8 masquerade",
            "    oifname @bridges ct status dnat ip saddr @subnets masquerade",
        ]
        for bridge, subnet, internal in self.networks:
            if not internal:
                lines.append(f'    ip saddr {subnet} oifname != "{bridge}" masquerade')
        lines += ["  }",
                  "  chain forward { type filter hook forward priority filter; policy accept;",
                  "    oifname @bridges ct status dnat accept"]
        for bridge, _subnet, internal in self.networks:
            lines.append(f'    iifname "{bridge}" oifname @bridges oifname != "{bridge}" drop')
            if internal:
                # --internal: no way out but to its own bridge.
                lines.append(f'    iifname "{bridge}" oifname != "{bridge}" drop')
                lines.append(f'    oifname "{bridge}" iifname != "{bridge}" drop')
        lines += ["  }", "}"]
        return "\n".join(lines) + "\n"


def apply(table: str, rules: Rules) -> None:
    """Replace the table with `rules`, atomically (create-if-missing, delete, create: one transaction)."""
    nft(f"table ip {table}\ndelete table ip {table}\n" + rules.render(table))


def delete(table: str) -> bool:
    """Remove the table and with it every rule of ours; False if there was none."""
    try:
        nft(f"delete table ip {table}")
        return True
    except FirewallError:
        return False


def exists(table: str) -> bool:
    try:
        nft(f"list table ip {table}")
        return True
    except FirewallError:
        return False


def tables() -> list[str]:
    """Names of the host's `ip` tables that are tuiker's (`tuiker`, `tuiker_<hash>`)."""
    try:
        text = nft("list tables ip")
    except FirewallError:
        return []
    return [line.split()[2] for line in text.splitlines()
            if line.startswith("table ip ") and line.split()[2].startswith("tuiker")]


def owner(table: str) -> str | None:
    """The engine root a table of ours was made for (its comment), None if it has none."""
    for line in listing(table).splitlines()[:3]:
        line = line.strip()
        if line.startswith(f'comment "{OWNER_PREFIX}'):
            return line[len(f'comment "{OWNER_PREFIX}'):-1]
    return None


def listing(table: str) -> str:
    try:
        return nft(f"list table ip {table}")
    except FirewallError:
        return ""
