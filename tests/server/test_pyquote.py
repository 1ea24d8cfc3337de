"""The sidebar's inserted code: names become Python string literals, never code.

Runs the real TypeScript (``labextension/src/pyquote.ts``), transpiled by the extension's own
TypeScript compiler, under node; skipped where node or the npm dependencies are absent.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

LABEXT = Path(__file__).resolve().parents[2] / "labextension"
TS_COMPILER = LABEXT / "node_modules" / "typescript"

HOSTILE = [
    "a'); import os #",
    'a"); import os #',
    "plain-name",
    "back\\slash\\",
    "tail\\",
    "new\nline\rcr\ttab",
    "\x00\x1b\x7f\x85\xa0 controls",
    "\u2028\u2029\ufeff separators",
    "emoji 🙂 and ünïcode",
    "lone \ud800 half",
    "'''",
    '"""',
    "{braces} %s f'{x}'",
    "",
    "-rf",
    "--output=/tmp/pwned",
    "-",
    "_under-score",
]

RUNNER = r"""
const fs = require('fs');
const ts = require(process.argv[1]);
const src = fs.readFileSync(process.argv[2], 'utf8');
const opts = { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES5 } };
const js = ts.transpileModule(src, opts).outputText;
const mod = { exports: {} };
new Function('module', 'exports', 'require', js)(mod, mod.exports, require);
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const q = mod.exports;
const out = {
  literals: input.map(q.pyStr),
  compare: q.compareCode(input),
  load: input.map(s => q.loadModelCode('models:/' + s + '/1')),
  plain: input.map(q.isPlainId),
};
let refused = 0;
for (const s of input) { try { q.checkoutCode(s); } catch (e) { refused++; } }
out.refused = refused;
out.checkout = q.checkoutCode('0123456789abcdef0123456789abcdef');
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def quoted() -> dict:
    node = shutil.which("node")
    if node is None or not TS_COMPILER.exists():
        pytest.skip("node and labextension/node_modules (jlpm install) are needed")
    out = subprocess.run(
        [node, "-e", RUNNER, str(TS_COMPILER), str(LABEXT / "src" / "pyquote.ts")],
        input=json.dumps(HOSTILE),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


def test_every_literal_evaluates_to_the_original(quoted: dict) -> None:
    for original, literal in zip(HOSTILE, quoted["literals"], strict=True):
        node = ast.parse(literal, mode="eval").body
        assert isinstance(node, ast.Constant), literal
        assert ast.literal_eval(literal) == original


def test_compare_code_is_an_import_and_one_call_with_a_list_of_strings(quoted: dict) -> None:
    tree = ast.parse(quoted["compare"])
    assert [type(n) for n in tree.body] == [ast.ImportFrom, ast.Expr]
    assert tree.body[0].module == "jupyter_mlops" and tree.body[0].names[0].name == "compare_runs"
    call = tree.body[1].value
    assert isinstance(call, ast.Call) and call.func.id == "compare_runs"
    assert [k.arg for k in call.keywords] == ["run_ids"]
    assert ast.literal_eval(call.keywords[0].value) == HOSTILE


def test_load_code_passes_the_uri_as_one_string(quoted: dict) -> None:
    for original, code in zip(HOSTILE, quoted["load"], strict=True):
        tree = ast.parse(code)
        assert [type(n) for n in tree.body] == [ast.Import, ast.Assign]
        call = tree.body[1].value
        assert ast.literal_eval(call.args[0]) == f"models:/{original}/1"


def test_checkout_magic_refuses_anything_but_plain_ids(quoted: dict) -> None:
    assert quoted["checkout"] == "%dvc_checkout 0123456789abcdef0123456789abcdef"
    plain = {"plain-name", "_under-score"}  # never a leading "-": argparse reads that as a flag
    assert quoted["refused"] == len(HOSTILE) - len(plain)
    assert quoted["plain"] == [s in plain for s in HOSTILE]
