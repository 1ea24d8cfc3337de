"""Property (issue 18 §6): whatever path, revision and hash a run records, ``checkout_data``
writes nothing outside the tracked output and answers in one line.

Each example is planted in a real run of a real sqlite store and checked out of a real git + DVC
repository. Bounded for CI (fixed seed); ``benchmarks/fuzz_checkout.py`` runs the deep mode by
setting ``JUPYTER_MLOPS_FUZZ_EXAMPLES`` (random seed, that many examples).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from jupyter_mlops import checkout_data, snapshot
from jupyter_mlops.core.errors import MlopsError

DEEP = os.environ.get("JUPYTER_MLOPS_FUZZ_EXAMPLES")
EXAMPLES = int(DEEP or 60)
TRACKED = ("w1/w2/repo/data/train.csv", "w1/w2/repo/data/train.csv.dvc")
PARTS = [
    "..", ".", "", "data", "train.csv", "train.csv.dvc", "src", "helper.py", ".git", ".dvc",
    "hooks", "config", "-x", "--output=pwned", "conftest.py", "~", "*", "\\",
]  # fmt: skip

ODD_REVS = ["HEAD", "main", "HEAD~1", "-p", "", "ab" * 20, "--", "0" * 64]
ODD_PATHS = [
    "data/train.csv", "conftest.py", "src/helper.py", "README.md", ".git/config", ".dvc/config",
    "data", "data/", "./data/train.csv", "data/../data/train.csv", "data//train.csv",
    "/etc/passwd", "~/x", "data/train.csv\x00", "C:\\x", "-rf",
]  # fmt: skip


def records(base: Path, v1: object, v2: object) -> st.SearchStrategy[tuple[object, str]]:
    """(source, digest) pairs: the genuine records, and arbitrary or hostile ones."""
    rev1, rev2 = v1.git_rev, v2.git_rev  # type: ignore[attr-defined]
    hash1, hash2 = v1.dvc_hash, v2.dvc_hash  # type: ignore[attr-defined]
    revs = st.one_of(
        st.none(),
        st.sampled_from([rev1, rev2, rev1[:8], rev1.upper(), rev1 + "^", f"{rev1}:data/train.csv"]),
        st.sampled_from([*ODD_REVS, f"--output={base / 'pwned'}"]),
        st.text(max_size=60),
        st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
        st.integers(),
        st.lists(st.text(max_size=5), max_size=2),
    )
    paths = st.one_of(
        st.sampled_from(ODD_PATHS),
        st.lists(st.sampled_from(PARTS), min_size=1, max_size=6).map("/".join),
        st.lists(st.sampled_from(PARTS), min_size=1, max_size=4).map(
            lambda p: f"{base / 'abs'}/" + "/".join(p)
        ),
        st.text(max_size=80),
        st.integers(),
    )
    sources = st.one_of(
        st.fixed_dictionaries({"path": paths, "git_rev": revs}),
        st.fixed_dictionaries({"git_rev": revs}),  # no path: the dataset's name stands in
        st.text(max_size=40),  # not JSON at all
        st.lists(paths, max_size=2),  # JSON, but not an object
    )
    digests = st.one_of(
        st.sampled_from([hash1, hash2, "0" * 32, hash1 + ".dir", "../../x", ""]),
        st.text(max_size=36),  # MLflow keeps at most 36 characters of a digest
    )
    genuine = st.sampled_from(
        [
            ({"path": "data/train.csv", "git_rev": rev1}, hash1),
            ({"path": "data/train.csv", "git_rev": rev2}, hash2),
            ({"path": "data/train.csv", "git_rev": None}, hash1),
        ]
    )
    hostile = st.tuples(sources, digests)
    return st.one_of(hostile, hostile, hostile, hostile, genuine)  # ~1 in 5 genuine (slower)


@pytest.fixture
def victim_repo(tmp_path: Path, tracking_uri: str, git, monkeypatch):  # type: ignore[no-untyped-def]
    """``base/w1/w2/repo`` (so ``../..`` stays in ``base``): data/train.csv at two commits."""
    from dvc.repo import Repo

    root = tmp_path / "w1" / "w2" / "repo"
    (root / "data").mkdir(parents=True)
    (root / "src").mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.invalid")
    (root / "README.md").write_text("fuzz\n")
    (root / "src" / "helper.py").write_text("VALUE = 1\n")
    Repo.init(str(root)).close()
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    monkeypatch.chdir(root)
    (root / "data" / "train.csv").write_text("x\n1\n")
    v1 = snapshot("data/train.csv", link=False)
    (root / "data" / "train.csv").write_text("x\n1\n2\n")
    v2 = snapshot("data/train.csv", link=False)
    return root, v1, v2


@pytest.mark.slow
def test_checkout_of_any_recorded_version_writes_nothing_outside_the_tracked_output(
    tmp_path, victim_repo, client, git_state, file_tree, plant_run
):
    root, v1, v2 = victim_repo
    base = tmp_path
    before_files, before_git = file_tree(base), git_state(root)
    saved = {rel: (base / rel).read_bytes() for rel in TRACKED}
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=not DEEP,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(record=records(base, v1, v2), force=st.booleans())
    def check(record: tuple[object, str], force: bool) -> None:
        source, digest = record
        try:
            run_id = plant_run(client, source, digest)
        except Exception:  # MLflow refuses to store it: not a record anyone can plant
            reject()
        try:
            restored = checkout_data(run_id, force=force, cwd=root, client=client)
        except MlopsError as exc:
            text = str(exc)
            assert text and "\n" not in text and "Traceback" not in text, text
            outcomes["untrustworthy" if "untrustworthy" in text else "refused"] += 1
            assert file_tree(base) == before_files, text
        else:
            outcomes["restored"] += 1
            assert [v.path for v in restored] == ["data/train.csv"]
            changed = {k for k, v in file_tree(base).items() if before_files.get(k) != v}
            assert changed <= set(TRACKED), changed
            for rel, content in saved.items():  # back to v2 for the next example
                (base / rel).write_bytes(content)
            assert file_tree(base) == before_files
        assert git_state(root) == before_git
        outcomes["inputs"] += 1

    check()
    print(f"\nfuzz_checkout: {dict(sorted(outcomes.items()))}")
    assert outcomes["inputs"] >= min(EXAMPLES, 50)
    assert outcomes["restored"] >= 1 and outcomes["untrustworthy"] >= 1
