"""Login identifiers (emails and usernames) and the one normal form every comparison uses.

Python's lower(), PostgreSQL's LOWER() and UPPER() fold case differently outside ASCII (KELVIN
SIGN "\u212a" lowers to "k" in PostgreSQL, not in Python), so comparing with any of them lets a
look-alike collide with, or stand in for, a real address. Instead:

- an identifier a user is given must already be in Unicode NFKC form, so compatibility look-alikes
  (KELVIN SIGN, full-width letters, ligatures, mathematical letters, long s) are refused rather
  than silently mapped onto an ASCII address someone else owns;
- two identifiers are the same when their keys are equal: `login_id_key` (NFKC of the full Unicode
  case fold), computed here in Python only and stored in indexed columns with unique constraints,
  so login, search, change-password, creation and the database all agree.
"""

from __future__ import annotations

import unicodedata

MAX_KEY_LENGTH = 320


def login_id_key(value: str) -> str:
    """The comparison key of a login identifier: whitespace-trimmed, NFKC, case-folded, NFKC again
    (a case fold can leave a string that is not NFKC). Used for every lookup and uniqueness check."""
    normal = unicodedata.normalize("NFKC", value.strip())
    return unicodedata.normalize("NFKC", normal.casefold())


def login_id_in_normal_form(value: str) -> bool:
    """Whether a new identifier is already NFKC (no compatibility look-alike characters)."""
    return unicodedata.is_normalized("NFKC", value)
