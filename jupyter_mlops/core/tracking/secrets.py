"""Secret-looking names and masking their literal values in code and diffs.

Used for params (never logged when secret) and for the logged cell source and git diff.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["is_secret_name", "mask_secrets"]

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
_HINT = re.compile("key|token|secret|passw|credential|passphrase|authorization", re.I)


def mask_secrets(text: str) -> str:
    """Replace literal values assigned to secret-looking names with ``'***'``; rest unchanged.

    Works line by line on code that need not parse (magics, shell lines) and on unified diffs
    (also of notebook JSON). A triple-quoted secret spanning lines keeps its line count (and a
    diff its line prefixes): each of its lines becomes ``***``.
    """
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
    if not _HINT.search(line):
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
