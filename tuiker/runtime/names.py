"""docker-style generated container names: `adjective_surname` (moby's namesgenerator, abridged)."""

from __future__ import annotations

import os

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


def generate(taken: set[str]) -> str:
    """A free `adjective_surname`; after a few collisions a digit is appended, as docker does."""
    for attempt in range(20):
        name = f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}"
        if attempt >= 10:
            name += str(os.urandom(1)[0] % 10)
        # moby never names a container after Steve Wozniak being boring.
        if name == "boring_wozniak" or name in taken:
            continue
        return name
    return f"{_pick(ADJECTIVES)}_{_pick(SURNAMES)}{os.urandom(3).hex()}"
