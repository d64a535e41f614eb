"""hub._merkle: RFC 6962 tree heads and proofs against published vectors and a from-the-RFC reference.

The fast tree keeps stored subtree hashes; the reference here recomputes everything straight from the RFC's
recursive definitions (MTH, PATH, PROOF in RFC 6962 §2.1), hashing with hashlib directly, so the two share no
code. Every proof the tree makes must equal the reference's and verify, and every tampered proof, wrong root
and off-by-one size must fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub import _merkle
from hub._merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# --- published vectors --------------------------------------------------------------------------------------
# From github.com/transparency-dev/merkle, proof/verify_test.go (inherited from
# github.com/google/certificate-transparency-go merkletree tests): the leaves, the roots for sizes 1..8, and the
# inclusion and consistency proofs. Leaf indices there are 1-based ({leaf, size}); here they are 0-based.

LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


def _hashes(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


INCLUSION_PROOFS = [  # (0-based leaf index, tree size, proof)
    (0, 1, []),
    (
        0,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _hashes(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _hashes("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _hashes(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

CONSISTENCY_PROOFS = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        _hashes(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _hashes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _hashes(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _hashes(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

# Values transparency-dev's tests use as "some other hash".
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def vectors_tree() -> MerkleTree:
    return MerkleTree(leaf_hash(data) for data in LEAVES)


# --- a reference straight from RFC 6962 §2.1 ----------------------------------------------------------------


def _ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _ref_k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), found the slow way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return _ref_leaf(d[0])
    k = _ref_k(len(d))
    return _ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return _ref_subproof(m, d, True)


def _ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _ref_k(n)
    if m <= k:
        return [*_ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*_ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def _data(n: int) -> list[bytes]:
    return [b"entry %d" % i for i in range(n)]


# --- published vectors --------------------------------------------------------------------------------------


def test_hashes_are_rfc6962() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == ROOTS[0]  # a one-leaf tree's head is its leaf hash
    assert node_hash(b"\x00" * 32, b"\x01" * 32) == _ref_node(b"\x00" * 32, b"\x01" * 32)


def test_published_roots(vectors_tree: MerkleTree) -> None:
    assert vectors_tree.size == 8
    assert [vectors_tree.root(n) for n in range(1, 9)] == ROOTS
    assert vectors_tree.root() == ROOTS[-1]
    assert vectors_tree.root(0) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_published_inclusion_proofs(vectors_tree: MerkleTree, index: int, size: int, proof: list[bytes]) -> None:
    assert vectors_tree.inclusion_proof(index, size) == proof
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_PROOFS)
def test_published_consistency_proofs(vectors_tree: MerkleTree, old: int, new: int, proof: list[bytes]) -> None:
    assert vectors_tree.consistency_proof(old, new) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in INCLUSION_PROOFS if v[2]])
def test_published_inclusion_proofs_tampered(index: int, size: int, proof: list[bytes]) -> None:
    # The corruptions of transparency-dev's corruptInclusionProof: each must fail.
    leaf, root = leaf_hash(LEAVES[index]), ROOTS[size - 1]
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root),
        *((index, size, leaf, _flip(proof, i, 8), root) for i in range(len(proof))),
    ]
    for probe in probes:
        with pytest.raises(ProofError):
            verify_inclusion(probe[2], probe[0], probe[1], probe[3], probe[4])


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_PROOFS if v[2]])
def test_published_consistency_proofs_tampered(old: int, new: int, proof: list[bytes]) -> None:
    # The corruptions of transparency-dev's corruptConsistencyProof: each must fail.
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
        *((old, new, r1, r2, _flip(proof, i, 16)) for i in range(len(proof))),
    ]
    for probe in probes:
        with pytest.raises(ProofError):
            verify_consistency(*probe)


def _flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    tampered = list(proof)
    tampered[i] = bytes([tampered[i][0] ^ bit]) + tampered[i][1:]
    return tampered


# --- the fast tree against the reference --------------------------------------------------------------------

EXHAUSTIVE = 40  # every size, index and pair of sizes up to this


@pytest.fixture(scope="module")
def exhaustive() -> tuple[list[bytes], MerkleTree]:
    data = _data(EXHAUSTIVE)
    return data, MerkleTree(_ref_leaf(d) for d in data)


def test_roots_match_reference(exhaustive: tuple[list[bytes], MerkleTree]) -> None:
    data, tree = exhaustive
    for n in range(EXHAUSTIVE + 1):
        assert tree.root(n) == ref_mth(data[:n]), n


def test_every_inclusion_proof(exhaustive: tuple[list[bytes], MerkleTree]) -> None:
    data, tree = exhaustive
    roots = [ref_mth(data[:n]) for n in range(EXHAUSTIVE + 1)]
    for n in range(1, EXHAUSTIVE + 1):
        for m in range(n):
            proof = tree.inclusion_proof(m, n)
            assert proof == ref_path(m, data[:n]), (m, n)
            verify_inclusion(tree.leaf(m), m, n, proof, roots[n])
            _inclusion_must_fail(tree, m, n, proof, roots)


def _inclusion_must_fail(tree: MerkleTree, m: int, n: int, proof: list[bytes], roots: list[bytes]) -> None:
    # A size off by one is checked with that size's own head: the RFC's algorithm alone cannot tell sizes apart
    # under one root (a checkpoint binds the two), so the same root with another size may legitimately verify.
    leaf, root = tree.leaf(m), roots[n]
    bad: list[Callable[[], None]] = [
        lambda: verify_inclusion(leaf, m, n, proof, SOME_HASH),
        lambda: verify_inclusion(SOME_HASH, m, n, proof, root),
        lambda: verify_inclusion(leaf, m, n, [*proof, SOME_HASH], root),
        lambda: verify_inclusion(leaf, m, n, [SOME_HASH, *proof], root),
        lambda: verify_inclusion(leaf, n, n, proof, root),
        lambda: verify_inclusion(tree.leaf((m + 1) % tree.size), m, n, proof, root),
    ]
    if n < EXHAUSTIVE:
        bad.append(lambda: verify_inclusion(leaf, m, n + 1, proof, roots[n + 1]))
    if n > 1:
        bad.append(lambda: verify_inclusion(leaf, m, n - 1, proof, roots[n - 1]))
        bad.append(lambda: verify_inclusion(leaf, m ^ 1, n, proof, root))
        bad.append(lambda: verify_inclusion(leaf, m, n, proof[:-1], root))
    bad.extend(partial(verify_inclusion, leaf, m, n, _flip(proof, i, 1), root) for i in range(len(proof)))
    for attempt in bad:
        with pytest.raises(ProofError):
            attempt()


def test_every_consistency_proof(exhaustive: tuple[list[bytes], MerkleTree]) -> None:
    data, tree = exhaustive
    roots = [ref_mth(data[:n]) for n in range(EXHAUSTIVE + 1)]
    for n in range(EXHAUSTIVE + 1):
        for m in range(n + 1):
            proof = tree.consistency_proof(m, n)
            assert proof == ([] if m in (0, n) else ref_proof(m, data[:n])), (m, n)
            verify_consistency(m, n, roots[m], roots[n], proof)
            if 0 < m < n:
                _consistency_must_fail(m, n, roots, proof)


def _consistency_must_fail(m: int, n: int, roots: list[bytes], proof: list[bytes]) -> None:
    r1, r2 = roots[m], roots[n]
    bad: list[Callable[[], None]] = [
        lambda: verify_consistency(m, n, SOME_HASH, r2, proof),
        lambda: verify_consistency(m, n, r1, SOME_HASH, proof),
        lambda: verify_consistency(m, n, r1, r2, [*proof, SOME_HASH]),
        lambda: verify_consistency(m, n, r1, r2, proof[:-1]),
        lambda: verify_consistency(m, n, r1, r2, []),
        lambda: verify_consistency(n, m, r2, r1, proof),
    ]
    if m + 1 < n:
        bad.append(lambda: verify_consistency(m + 1, n, roots[m + 1], r2, proof))
    if m > 1:
        bad.append(lambda: verify_consistency(m - 1, n, roots[m - 1], r2, proof))
    if n < EXHAUSTIVE:
        bad.append(lambda: verify_consistency(m, n + 1, r1, roots[n + 1], proof))
    bad.extend(partial(verify_consistency, m, n, r1, r2, _flip(proof, i, 1)) for i in range(len(proof)))
    for attempt in bad:
        with pytest.raises(ProofError):
            attempt()


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_random_large_sizes_match_reference(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3000), label="size")
    entries = _data(n)
    tree = MerkleTree(_ref_leaf(d) for d in entries)
    m = data.draw(st.integers(0, n - 1), label="index")
    old = data.draw(st.integers(1, n), label="old size")
    root, old_root = ref_mth(entries), ref_mth(entries[:old])
    assert tree.root() == root
    assert tree.root(old) == old_root
    proof = tree.inclusion_proof(m, n)
    assert proof == ref_path(m, entries)
    verify_inclusion(tree.leaf(m), m, n, proof, root)
    consistency = tree.consistency_proof(old, n)
    assert consistency == ([] if old == n else ref_proof(old, entries))
    verify_consistency(old, n, old_root, root, consistency)


def test_growing_tree_keeps_old_heads() -> None:
    # Appending one leaf at a time, every earlier head stays what it was, and each step is provably consistent.
    tree, heads = MerkleTree(), [EMPTY_ROOT]
    for i, d in enumerate(_data(70)):
        assert tree.append(leaf_hash(d)) == i
        heads.append(tree.root())
        verify_consistency(i, i + 1, heads[i], heads[i + 1], tree.consistency_proof(i, i + 1))
    assert [tree.root(n) for n in range(71)] == heads


# --- cost: O(log n) hashes per head or proof ----------------------------------------------------------------


def test_heads_and_proofs_cost_logarithmic_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 100_003
    tree = MerkleTree(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n))
    calls = 0
    real = _merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(_merkle, "node_hash", counting)
    budget = 2 * n.bit_length()
    for size in (n, n - 1, 65_537, 99_999):
        for method, args in (
            (tree.root, (size,)),
            (tree.inclusion_proof, (size // 3, size)),
            (tree.inclusion_proof, (size - 1, size)),
            (tree.consistency_proof, (size // 7 + 1, size)),
            (tree.consistency_proof, (size - 1, size)),
        ):
            calls = 0
            method(*args)
            assert calls <= budget, (method.__name__, args, calls)


# --- edge cases and argument errors -------------------------------------------------------------------------


def test_out_of_range_arguments_raise_value_error(vectors_tree: MerkleTree) -> None:
    with pytest.raises(ValueError, match="out of range: the tree has 8 leaves"):
        vectors_tree.root(9)
    with pytest.raises(ValueError, match="out of range"):
        vectors_tree.root(-1)
    with pytest.raises(ValueError, match="out of range"):
        vectors_tree.leaf(8)
    with pytest.raises(ValueError, match="not in a tree of size 8"):
        vectors_tree.inclusion_proof(8, 8)
    with pytest.raises(ValueError, match="not in a tree of size 0"):
        vectors_tree.inclusion_proof(0, 0)
    with pytest.raises(ValueError, match="out of range"):
        vectors_tree.inclusion_proof(0, 9)
    with pytest.raises(ValueError, match="between 0 and the new size 3"):
        vectors_tree.consistency_proof(4, 3)
    with pytest.raises(ValueError, match="out of range"):
        vectors_tree.consistency_proof(1, 9)
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree().append(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree(["not bytes"])  # type: ignore[list-item]


def test_tree_accepts_bytearray_and_copies_it() -> None:
    leaf = bytearray(leaf_hash(b"x"))
    tree = MerkleTree([leaf])  # type: ignore[list-item]  # typed bytes; a mutable buffer works, and is copied
    leaf[0] ^= 1
    assert tree.leaf(0) == leaf_hash(b"x")


def test_trivial_consistency_cases() -> None:
    root = ROOTS[0]
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(1, 1, root, root, [])
    cases = [
        (0, 0, EMPTY_ROOT, ROOTS[0], [], "same size 0 differ"),
        (1, 1, ROOTS[0], ROOTS[1], [], "same size 1 differ"),
        (1, 1, root, root, [EMPTY_ROOT], "must be empty"),
        (0, 1, EMPTY_ROOT, root, [EMPTY_ROOT], "must be empty"),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], "must be empty"),
        (0, 3, SOME_HASH, ROOTS[2], [], "size 0 is not the empty tree"),
        (1, 0, root, EMPTY_ROOT, [], "a log only grows"),
        (2, 1, ROOTS[1], root, [], "a log only grows"),
        (-1, 1, root, root, [], "between 0 and"),
        (1, 2, root, ROOTS[1], [], "has 0 hashes"),
    ]
    for old, new, r1, r2, proof, message in cases:
        with pytest.raises(ProofError, match=message):
            verify_consistency(old, new, r1, r2, proof)


def test_verification_rejects_wrong_hash_lengths() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)  # a one-leaf tree's head is its leaf, with an empty proof
    for args in [
        (b"", 0, 1, [], leaf),
        (leaf, 0, 1, [], b""),
        (b"", 0, 1, [], b""),
        (leaf, 0, 2, [b"\x00" * 31], leaf),
    ]:
        with pytest.raises(ProofError, match="32 bytes"):
            verify_inclusion(*args)
    with pytest.raises(ProofError, match=r"proof\[1\] must be 32 bytes"):
        verify_consistency(1, 3, ROOTS[0], ROOTS[2], [ROOTS[0], b"x" * 33])
    with pytest.raises(ProofError, match="old root must be 32 bytes"):
        verify_consistency(1, 1, b"don't care", b"don't care", [])


def test_verification_rejects_indexes_outside_the_tree() -> None:
    for index, size in [(0, 0), (1, 0), (2, 1), (1, 1), (-1, 4)]:
        with pytest.raises(ProofError, match="not in a tree of size"):
            verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_error_messages_say_what_differs(vectors_tree: MerkleTree) -> None:
    proof = vectors_tree.inclusion_proof(2, 5)
    with pytest.raises(ProofError, match="has 2 hashes; leaf 2 of a tree of 5 needs 3"):
        verify_inclusion(leaf_hash(LEAVES[2]), 2, 5, proof[:2], ROOTS[4])
    with pytest.raises(ProofError, match="leaf 2 is not in the tree of size 5: the proof leads to"):
        verify_inclusion(leaf_hash(LEAVES[3]), 2, 5, proof, ROOTS[4])
    consistency = vectors_tree.consistency_proof(3, 7)
    with pytest.raises(ProofError, match="sizes 3 -> 7 need"):
        verify_consistency(3, 7, ROOTS[2], ROOTS[6], consistency[1:])
    with pytest.raises(ProofError, match="new root does not match"):
        verify_consistency(3, 7, ROOTS[2], ROOTS[5], consistency)
    with pytest.raises(ProofError, match="old root does not match"):
        verify_consistency(3, 7, ROOTS[1], ROOTS[6], consistency)
