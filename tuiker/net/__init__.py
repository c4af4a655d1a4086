"""Container networking's host side: networks, addresses, netlink, nftables, ports."""
