"""Names: docker's rules for the names users give (containers, networks, aliases, hostnames), and
docker-style generated container names, `adjective_surname` (moby's namesgenerator, abridged).

Why the rules matter here: a container's name and its aliases are written into every peer's /etc/hosts
(hostsfile.py), one line per address; a newline, a space or a `#` in one would add or hide lines in other
containers' name resolution. Names also end up in paths and on terminals (`ps`). So the engine checks them
wherever they enter it (ContainerStore, NetworkStore, the Engine facade), not only in the CLI.
"""

from __future__ import annotations

import os
import re

from tuiker.base.errors import InvalidArgument

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from collections.abc import Callable

# Patterns as strings: re compiles (and caches) them at first use, not on every command's import.
# docker's RestrictedNamePattern: at least two characters, the first a letter or digit. fullmatch, never
# `$`: Python's `$` also matches before a trailing newline.
_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"
# What may stand in a hosts file as a name: the same characters, one is enough (an alias `x`).
_HOST_TOKEN = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"
# RFC 1123 labels, dot-separated; docker refuses the rest with "invalid hostname format".
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
# A DNS name's limit. Longer names could not resolve anyway, and a hosts file line stays short enough for
# musl, which reads the file in 512-byte pieces (see hostsfile.render).
MAX_NAME = 253
# sethostname(2) takes at most 64 bytes; docker keeps to RFC 1123's 63.
MAX_HOSTNAME = 63


def _valid(pattern: str, text: object, limit: int) -> bool:
    return isinstance(text, str) and len(text) <= limit and re.fullmatch(pattern, text) is not None


def _shown(text: object) -> str:
    """`text` for an error message: as is when printable, else quoted with escapes, so the message stays
    one line and prints no terminal control sequence."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def is_host_token(name: object) -> bool:
    """Whether `name` may stand in a hosts file line as a name."""
    return _valid(_HOST_TOKEN, name, MAX_NAME)


def is_container_name(name: object) -> bool:
    """Whether `name` is a name `--name` may give (without docker's leading `/`); a lookup that takes a name as
    a file name (the store's names index) checks this first, so `..` or `a/b` never names a path."""
    return _valid(_NAME, name, MAX_NAME)


def check_container_name(name: str) -> str:
    """A name `--name` may give, with docker's one leading `/` dropped (`/web` is `web`); else InvalidArgument."""
    bare = name.removeprefix("/") if isinstance(name, str) else name
    if not _valid(_NAME, bare, MAX_NAME):
        raise InvalidArgument(f"Invalid container name ({_shown(name)}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                          f" (at most {MAX_NAME} characters)")
    return bare


def check_network_name(name: str) -> None:
    if not _valid(_NAME, name, MAX_NAME):
        raise InvalidArgument(f"invalid network name {_shown(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                          f" (at most {MAX_NAME} characters)")


def check_alias(alias: str) -> None:
    if not is_host_token(alias):
        raise InvalidArgument(f"invalid network alias {_shown(alias)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                          f" (at most {MAX_NAME} characters)")


def check_hostname(hostname: str) -> None:
    """RFC 1123, at most 63 characters (docker's rule; the kernel takes 64 bytes)."""
    if not _valid(_HOSTNAME, hostname, MAX_HOSTNAME):
        raise InvalidArgument(f"invalid hostname format: {_shown(hostname)}")


ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
    "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
    "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent",
    "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
    "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
    "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
)
SURNAMES = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage",
    "banach", "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "blackwell", "bohr", "booth", "borg",
    "bose", "bouman", "boyd", "brahmagupta", "brattain", "brown", "buck", "burnell", "cannon", "carson",
    "cartwright", "cerf", "chandrasekhar", "chatelet", "chebyshev", "cohen", "colden", "cori", "cray",
    "curie", "darwin", "davinci", "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein",
    "elion", "elbakyan", "engelbart", "euclid", "euler", "faraday", "feistel", "fermat", "fermi", "feynman",
    "franklin", "gagarin", "galileo", "gates", "gauss", "germain", "goldberg", "goldstine", "goldwasser",
    "goodall", "hamilton", "haslett", "hawking", "heisenberg", "hellman", "hermann", "hodgkin", "hoover",
    "hopper", "hypatia", "jackson", "jang", "jennings", "jepsen", "johnson", "joliot", "kalam", "kapitsa",
    "keller", "kepler", "khayyam", "khorana", "kilby", "kirch", "knuth", "kowalevski", "lalande", "lamarr",
    "lamport", "leakey", "leavitt", "lederberg", "lehmann", "lewin", "lichterman", "liskov", "lovelace",
    "lumiere", "mahavira", "margulis", "matsumoto", "maxwell", "mayer", "mccarthy", "mcclintock", "meitner",
    "mendel", "mendeleev", "merkle", "mirzakhani", "montalcini", "moore", "morse", "napier", "nash",
    "neumann", "newton", "nobel", "noether", "northcutt", "noyce", "pare", "pascal", "pasteur", "payne",
    "perlman", "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "roentgen", "rosalind",
    "saha", "sammet", "shamir", "shannon", "shaw", "shirley", "shockley", "sinoussi", "snyder", "spence",
    "stonebraker", "sutherland", "swanson", "swartz", "tesla", "thompson", "torvalds", "turing", "villani",
    "wescoff", "wilbur", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
)


def _pick(words: tuple[str, ...]) -> str:
    # os.urandom rather than secrets/random: those import hashlib, ~5 ms on every `tuiker run`.
    return words[int.from_bytes(os.urandom(4), "big") % len(words)]


def generate(taken: Callable[[str], bool]) -> str:
    """A free `adjective_surname` (`taken(name)` says whether one is in use); after a few collisions a digit is
    appended, as docker does."""
    for attempt in range(20):
        name = f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}"
        if attempt >= 10:
            name += str(os.urandom(1)[0] % 10)
        # moby never names a container after Steve Wozniak being boring.
        if name == "boring_wozniak" or taken(name):
            continue
        return name
    return f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}{os.urandom(3).hex()}"
