"""The one masking function for every text we log (``mask_text``), and what it builds on.

A secret is found by name (``api_key = "..."``, ``{"token": ...}``, ``password: x`` in YAML,
nested keys too), by the shape of its value (URLs with credentials, ``Bearer`` tokens, well-known
key prefixes) and by being the value of an environment variable whose name looks secret. Params
with a secret name are never logged; every other text (params, tags, cell source, traceback,
diffs, executed notebooks) goes through ``mask_text`` before it is written or spooled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache

__all__ = ["is_secret_name", "mask_secrets", "mask_text", "mask_values", "secret_literals"]

# --- secrets --------------------------------------------------------------------------------
# A name is secret when one of its words (split at _ - . digits and camelCase) is a secret
# word or a common run-together form. Words are whole: ``keyboard``, ``monkey``, ``tokenizer``
# are not secret. ``key``/``token`` are ambiguous, so they are not secret alone (but ``token``) or
# beside a word naming what they really are: a size (``max_tokens``), an NLP token
# (``pad_token``) or a lookup key (``output_key``, ``next_page_token``). Anything else with
# them is (``api_key``, ``hf_token``, ``sort_key`` too: when in doubt, mask).
_SECRET_WORDS = {
    "key", "keys", "token", "tokens", "secret", "secrets", "password", "passwords", "passwd",
    "credential", "credentials", "passphrase", "authorization",
    "apikey", "accesskey", "secretkey", "privatekey", "authtoken", "accesstoken", "apitoken",
    "hftoken", "bearertoken", "refreshtoken", "clientsecret", "apisecret",
    "pw", "pwd", "pat", "githubpat", "auth", "creds", "cred", "dsn", "privkey", "passcode",
    "cookie", "cookies",
}  # fmt: skip
_AMBIGUOUS = {"key", "keys", "token", "tokens"}
_BENIGN_QUALIFIERS = {
    "max", "min", "num", "n", "count", "len", "length", "size", "limit", "total", "ids",
    "pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "start", "end", "stop",
    "input", "output", "prompt", "completion", "cached", "target", "label", "metric", "column",
    "index", "lookup", "map", "dict", "cache", "primary", "foreign", "partition", "group",
    "page", "next", "example", "metadata", "field", "attribute", "type", "name", "model",
}  # fmt: skip
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def is_secret_name(name: str) -> bool:
    """True when ``name`` looks like it holds a credential (see the rule above)."""
    words = {w.lower() for w in _WORD.findall(name)}
    hits = words & _SECRET_WORDS
    if not hits:
        return False
    if hits - _AMBIGUOUS:
        return True
    if len(words) == 1 and words != {"token"}:
        return False  # a bare ``key``/``keys``/``tokens``
    return not (words & _BENIGN_QUALIFIERS)


_TRIPLE = r"""\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''"""
_SINGLE = r""""(?!"")(?:[^"\\\n]|\\.)*"|'(?!'')(?:[^'\\\n]|\\.)*'"""
_STR = rf"(?:[rRbBuUfF]{{0,2}}(?:{_TRIPLE}|{_SINGLE}))"
_JSON_STR = r'(?:\\"[^"\n]*?\\")'  # a string literal inside a JSON-encoded notebook line
_NUM = r"(?:-?\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?)\b"
_VALUE = rf"(?P<value>{_JSON_STR}|{_STR}(?:[ \t]*{_STR})*|{_NUM})"
_OPEN_TRIPLE = r"(?P<value>[rRbBuUfF]{0,2}(?P<delim>\"\"\"|''')(?:(?!(?P=delim))[^\n])*)$"
_QUOTE = r"""(?:\\?["'])"""
_TARGETS = (
    # name = v, name: T = v, f(name=v), self.name = v
    r"(?<![\w.])(?:\w+\.)*(?P<name>[A-Za-z_]\w*)[ \t]*(?::[ \t]*[\w.\[\], |]+?[ \t]*)?=(?!=)[ \t]*",
    # {"name": v}, x["name"] = v, f("name", v)
    rf"{_QUOTE}(?P<name>[^\"'\\\n]+){_QUOTE}[ \t]*(?::|\][ \t]*=(?!=)|,)[ \t]*",
    # %env NAME=v, %set_env NAME v, export NAME=v
    r"(?:%env|%set_env|export)[ \t]+(?P<name>\w+)(?:=|[ \t]+)",
)
_PATTERNS = [re.compile(target + _VALUE) for target in _TARGETS[:2]]
_SHELL_PATTERN = re.compile(_TARGETS[2] + r"(?P<value>[^\s=]\S*)")
_OPEN_PATTERNS = [re.compile(target + _OPEN_TRIPLE, re.M) for target in _TARGETS[:2]]
_MASK = "'***'"
_HINT = re.compile(  # applied to lower-cased text (much faster than re.I)
    r"key|token|secret|passw|credential|passphrase|auth(?!ors?(?![a-z]))|cred|dsn|cookie"
    r"|(?<![a-z])(?:pwd?|pat)(?![a-z])"
)
_HINT_FRAGMENTS = ("key", "token", "secret", "passw", "credential", "passphrase", "auth", "cred",
                   "dsn", "cookie", "pw", "pat")  # fmt: skip


def _hinted(text: str) -> bool:
    """Cheap first test: could ``text`` hold a secret name at all?"""
    low = text.lower()
    return any(f in low for f in _HINT_FRAGMENTS) and _HINT.search(low) is not None


def mask_secrets(text: str) -> str:
    """Replace literal values assigned to secret-looking names with ``'***'``; rest unchanged.

    Works line by line on code that need not parse (magics, shell lines) and on unified diffs
    (also of notebook JSON). A triple-quoted secret spanning lines keeps its line count (and a
    diff its line prefixes): each of its lines becomes ``***``.
    """
    if not _hinted(text):
        return text
    is_diff = re.search(r"^(?:@@ |diff --git |--- )", text, re.M) is not None
    out: list[str] = []
    closing: str | None = None
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        end = line[len(body) :]
        prefix = ""
        if closing is not None:
            prefix, body = (body[:1], body[1:]) if is_diff else ("", body)
            at = body.find(closing)
            if at < 0:
                out.append(prefix + ("***" if body else "") + end)
                continue
            prefix, body = prefix + "***", body[at:]
            closing = None
        body, closing = _mask_line(body)
        out.append(prefix + body + end)
    return "".join(out)


def _mask_line(line: str) -> tuple[str, str | None]:
    """Mask one line; returns it and the delimiter of a secret triple-quoted string left open."""
    if not _hinted(line):
        return line, None
    for pattern in _PATTERNS:
        line = _replace_values(pattern, line, _MASK)
    line = _replace_values(_SHELL_PATTERN, line, "***")
    for pattern in _OPEN_PATTERNS:
        for match in _secret_matches(pattern, line):
            delim = match.group("delim")
            start = match.start("value") + match.group("value").index(delim) + 3
            return line[:start] + "***", delim
    return line, None


def _secret_matches(pattern: re.Pattern[str], line: str) -> Iterator[re.Match[str]]:
    """Matches whose name is secret; a non-secret match does not hide one starting inside it."""
    pos = 0
    while (match := pattern.search(line, pos)) is not None:
        if is_secret_name(match.group("name")):
            yield match
            pos = match.end()
        else:
            pos = match.start() + 1


def _replace_values(pattern: re.Pattern[str], line: str, mask: str) -> str:
    out, done = [], 0
    for match in _secret_matches(pattern, line):
        out += [line[done : match.start("value")], mask]
        done = match.end("value")
    return "".join(out) + line[done:]


# --- the one function -----------------------------------------------------------------------
# ``name: value`` / ``name=value`` with a bare one-word value (YAML, .env, ini, and diffs of them)
_BARE = re.compile(
    r"^(?P<lead>[+\- ]?[ \t]*(?:-[ \t]+)?(?:export[ \t]+)?)(?P<name>[A-Za-z_][\w.-]*)"
    r"(?P<sep>[ \t]*(?::|=(?!=))[ \t]*)(?P<value>[^\s'\"(){}\[\],;#=][^\s(){}\[\],;#]*)"
    r"(?P<rest>[ \t]*(?:#.*)?)$",
    re.M,
)
# ``auth = ("bob", "pw")``, ``keys = ["a", "b"]``: every string in a secret name's tuple/list
_SEQUENCE = re.compile(
    r"(?<![\w.])(?P<name>[A-Za-z_]\w*)[ \t]*=[ \t]*(?P<body>[(\[][^()\[\]\n]*[)\]])"
)
_NOT_VALUES = {"None", "null", "~", "true", "false", "True", "False", "***", "'***'"}
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^\s:/@'\"]*):[^\s@/'\"]+@")
# a credential, not prose ("Basic training"): a digit, or a capital after a small letter
_BEARER = re.compile(
    r"\b(?P<kind>Bearer|Basic)[ \t]+(?=[\w.~+/=-]*(?:[0-9]|[a-z][\w.~+/=-]*[A-Z]))"
    r"[A-Za-z0-9._~+/=-]{8,}"
)
_KEY_PREFIXES = re.compile(
    r"\b(?P<prefix>sk-(?:proj-|ant-)?|gh[pousr]_|github_pat_|hf_|xox[abposr]-|AKIA|ASIA)"
    r"(?P<body>[A-Za-z0-9_\-]{12,})"
)
_KEY_FRAGMENTS = ("sk-", "gh", "github_pat_", "hf_", "xox", "AKIA", "ASIA")
_MIN_SECRET = 6  # shorter values (env or literal) would mask ordinary words all over a text


def secret_literals(texts: Iterable[str]) -> set[str]:
    """Literal values assigned to secret-looking names in ``texts`` (to mask them elsewhere,
    e.g. where the notebook printed them or a traceback quotes them)."""
    found: set[str] = set()
    for text in texts:
        if not _hinted(text):
            continue
        for pattern in _PATTERNS:
            for match in _secret_matches_all(pattern, text):
                value = match.group("value").strip()
                value = re.sub(r"^[rRbBuUfF]{0,2}(\\?[\"']{1,3})|(\\?[\"']{1,3})$", "", value)
                if len(value) >= _MIN_SECRET and value not in _NOT_VALUES:
                    found.add(value)
    return found


def _secret_matches_all(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    for line in text.splitlines():
        if _hinted(line):
            yield from _secret_matches(pattern, line)


def _sequence_strings(text: str) -> list[str]:
    found = []
    for match in _SEQUENCE.finditer(text):
        if is_secret_name(match.group("name")):
            found += [s for s in re.findall(_SINGLE, match.group("body")) if len(s) > _MIN_SECRET]
    return found


def _env_secrets() -> list[str]:
    values = [v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= _MIN_SECRET]
    return sorted(set(values), key=len, reverse=True)


def _mask_bare(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")) or match.group("value") in _NOT_VALUES:
        return match.group(0)
    return f"{match.group('lead')}{match.group('name')}{match.group('sep')}***{match.group('rest')}"


def _mask_sequence(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")):
        return match.group(0)
    body = re.sub(_SINGLE, _MASK, match.group("body"))
    return match.group(0)[: match.start("body") - match.start()] + body


def mask_text(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every secret we can recognise replaced by ``***`` (see the module doc);
    ``known`` are further values to mask wherever they occur. Idempotent."""
    if not text:
        return text
    return _mask(text, frozenset(known), tuple(_env_secrets()))


@lru_cache(maxsize=16)  # the environment texts are the same for every cell of a kernel
def _mask(text: str, known: frozenset[str], env: tuple[str, ...]) -> str:
    literals: set[str] = set()
    if _hinted(text):  # by name
        literals = secret_literals([text]) | {m.strip("'\"") for m in _sequence_strings(text)}
        text = mask_secrets(text)
        text = _BARE.sub(_mask_bare, text)
        text = _SEQUENCE.sub(_mask_sequence, text)
    if "://" in text and "@" in text:  # by value shape (cheap tests first: texts can be MBs)
        text = _URL_CREDENTIALS.sub(r"\g<head>:***@", text)
    if "Bearer" in text or "Basic" in text:
        text = _BEARER.sub(r"\g<kind> ***", text)
    if any(prefix in text for prefix in _KEY_FRAGMENTS):
        text = _KEY_PREFIXES.sub(r"\g<prefix>***", text)
    for value in sorted({*literals, *known, *env}, key=len, reverse=True):
        if len(value) >= _MIN_SECRET and value in text:
            text = text.replace(value, "***")
    return text
    literals = secret_literals([text])
    text = mask_secrets(text)
    if _hinted(text):
        literals |= {m.strip("'\"") for m in _sequence_strings(text)}
        text = _BARE.sub(_mask_bare, text)
        text = _SEQUENCE.sub(_mask_sequence, text)
    text = _URL_CREDENTIALS.sub(r"\g<head>:***@", text)
    text = _BEARER.sub(r"\g<kind> ***", text)
    text = _KEY_PREFIXES.sub(r"\g<prefix>***", text)
    for value in sorted({*literals, *known, *env}, key=len, reverse=True):
        if len(value) >= _MIN_SECRET and value in text:
            text = text.replace(value, "***")
    return text


def mask_values(values: Mapping[str, str], known: Iterable[str] = ()) -> dict[str, str]:
    """Param or tag values fit to log: ``***`` under a secret-looking name, else ``mask_text``."""
    known_values, env = frozenset(known), tuple(_env_secrets())  # once, not once per value
    masked = {}
    for key, value in values.items():
        text = str(value)
        masked[key] = (
            "***" if is_secret_name(key) else _mask(text, known_values, env) if text else text
        )
    return masked


def mask_files(paths: Iterable[os.PathLike[str] | str]) -> None:
    """Mask text files in place (an executed notebook and its HTML): secret literals found in
    any of them are masked in all, so the HTML's highlighted code and printed outputs too."""
    from pathlib import Path

    files = [Path(p) for p in paths]
    texts = {f: f.read_text(encoding="utf-8", errors="replace") for f in files}
    known = secret_literals(texts.values())
    for file, text in texts.items():
        file.write_text(mask_text(text, known), encoding="utf-8")
