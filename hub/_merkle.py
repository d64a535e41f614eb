"""An RFC 6962 Merkle tree: tree heads, inclusion and consistency proofs, and their verification.

A transparency log is only as good as the proofs it hands out: a receipt holder checks that its entry is in
the tree a signed checkpoint commits to (an inclusion proof), and a witness checks that each new checkpoint
extends the last one it saw (a consistency proof). The hashing is RFC 6962's (the same as Certificate
Transparency, Go's checksum database and every C2SP tlog), so any of their verifiers can check our proofs and
ours can check theirs. RFC 9162 §2.1 describes the same algorithms more clearly, and is what the verification
functions follow step by step.

`MerkleTree` keeps every complete, aligned subtree hash (``levels[h][k]`` is the hash of leaves
``[k * 2**h, (k + 1) * 2**h)``), about two hashes per leaf, updated as leaves are appended. Any subtree the
RFC's recursion asks for is then a right fold of at most log2(n) stored hashes, so a tree head or a proof for
any past size costs O(log n) hash operations however large the log, instead of rehashing whole subtrees.

The verification functions need no tree: they take the proof and the two hashes it connects, and raise
`ProofError` naming what did not match.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

#: Every hash here is SHA-256.
HASH_SIZE = 32
#: The tree head of a tree with no leaves: SHA-256 of nothing (RFC 6962 §2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Domain separation between leaves and interior nodes, so that no leaf can pass for a node (RFC 6962 §2.1).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A proof, or the hashes and sizes given with it, did not check out."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2): where RFC 6962 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only, in-memory RFC 6962 tree of leaf hashes.

    Callers pass leaf hashes (`leaf_hash` of the entry), not the entries, so the tree never holds the
    data it commits to. Appending costs one leaf store and, on average, one node hash.
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        # levels[h][k] = hash of the perfect subtree over leaves [k * 2**h, (k + 1) * 2**h).
        self._levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; return its 0-based index. Completes every subtree the new leaf closes."""
        if type(leaf) is not bytes or len(leaf) != HASH_SIZE:  # the fast path; _check_hash explains a failure
            _check_hash(leaf, "leaf hash")
            leaf = bytes(leaf)
        levels = self._levels
        row = levels[0]
        index = k = len(row)
        row.append(leaf)
        node, height = leaf, 0
        while k & 1:  # the node just stored is a right child: its parent is now complete
            node = hashlib.sha256(_NODE_PREFIX + row[k - 1] + node).digest()
            height, k = height + 1, k >> 1
            if height == len(levels):
                levels.append([])
            row = levels[height]
            row.append(node)
        return index

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is out of range: the tree has {self.size} leaves")
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """The tree head (RFC 6962 MTH) over the first `size` leaves, all of them by default."""
        size = self.size if size is None else size
        self._check_size(size, "tree size")
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The audit path (RFC 6962 PATH, RFC 9162 §2.1.3.1) of leaf `index` in the tree of `size` leaves.

        Ordered from the leaf's sibling up to the root's child, as `verify_inclusion` consumes it.
        """
        self._check_size(size, "tree size")
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not in a tree of size {size} (want 0 <= index < size)")
        siblings: list[bytes] = []
        start, end = 0, size
        while end - start > 1:  # descend towards the leaf, collecting the other side at each split
            mid = start + _split(end - start)
            if index < mid:
                siblings.append(self._subtree(mid, end))
                end = mid
            else:
                siblings.append(self._subtree(start, mid))
                start = mid
        siblings.reverse()
        return siblings

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The proof (RFC 6962 PROOF, RFC 9162 §2.1.4.1) that the `old_size` tree is a prefix of `new_size`'s.

        Empty when the sizes are equal or `old_size` is 0: there is nothing to prove then.
        """
        self._check_size(new_size, "new tree size")
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} must be between 0 and the new size {new_size}")
        if old_size in (0, new_size):
            return []
        nodes: list[bytes] = []
        start, end, whole = 0, new_size, True  # whole: the old tree is this subtree's left edge, known to a client
        while old_size != end:
            mid = start + _split(end - start)
            if old_size <= mid:
                nodes.append(self._subtree(mid, end))
                end = mid
            else:
                nodes.append(self._subtree(start, mid))
                start, whole = mid, False
        if not whole:
            nodes.append(self._subtree(start, end))
        nodes.reverse()
        return nodes

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end): the right fold of the perfect subtrees that make up the range.

        Valid for every subtree RFC 6962's recursion visits, whose start is a multiple of the largest power of
        two not above its width, so each piece of the binary decomposition is a stored, aligned subtree.
        """
        pieces: list[bytes] = []
        pos = start
        while pos < end:
            height = (end - pos).bit_length() - 1
            pieces.append(self._levels[height][pos >> height])
            pos += 1 << height
        node = pieces.pop()
        while pieces:
            node = node_hash(pieces.pop(), node)
        return node

    def _check_size(self, size: int, what: str) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"{what} {size} is out of range: the tree has {self.size} leaves")


def _check_hash(value: bytes, what: str, error: type[ValueError] = ValueError) -> None:
    """Raise `error` unless `value` is a 32-byte string: a wrong length is a bug or a forgery, never a hash."""
    if not isinstance(value, bytes | bytearray):
        raise error(f"{what} must be {HASH_SIZE} bytes (a SHA-256 hash), got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise error(f"{what} must be {HASH_SIZE} bytes (a SHA-256 hash), got {len(value)} bytes")


def _require_hash(value: bytes, what: str) -> None:
    _check_hash(value, what, ProofError)


def _require_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, node in enumerate(proof):
        _require_hash(node, f"proof[{i}]")


def _inclusion_length(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf `index` in a tree of `size` leaves has."""
    inner = (index ^ (size - 1)).bit_length()  # levels below where the paths to index and to the last leaf meet
    return inner + (index >> inner).bit_count()  # plus the left siblings above that point


def _consistency_length(old_size: int, new_size: int) -> int:
    """How many hashes the consistency proof between two sizes (0 < old < new) has."""
    shift = (old_size & -old_size).bit_length() - 1  # the old tree's rightmost perfect subtree is this high
    seed = 0 if old_size == 1 << shift else 1  # a power-of-two old tree is its own seed; else the proof carries it
    return seed + _inclusion_length((old_size - 1) >> shift, ((new_size - 1) >> shift) + 1)


def _check_root(computed: bytes, expected: bytes, what: str) -> None:
    if not hmac.compare_digest(computed, bytes(expected)):
        raise ProofError(f"{what}: the proof leads to {computed.hex()}, not to the given {bytes(expected).hex()}")


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves whose head is `root`.

    RFC 9162 §2.1.3.2, step by step. Raises `ProofError` saying what did not match.
    """
    _require_hash(leaf, "leaf hash")
    _require_hash(root, "root")
    _require_proof_hashes(proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size} (want 0 <= index < size)")
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of {size} needs {want}")
    r = bytes(leaf)
    for p, on_left in _path(index, size - 1, proof, "inclusion proof", "the root"):
        r = node_hash(p, r) if on_left else node_hash(r, p)
    _check_root(r, root, f"leaf {index} is not in the tree of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of `old_size` leaves with head `old_root` is a prefix of `new_size`'s with `new_root`.

    RFC 9162 §2.1.4.2, step by step, for 0 < old_size < new_size. Equal sizes need an empty proof and equal
    roots. Any tree extends the empty one, so old_size 0 needs an empty proof and `old_root` equal to
    `EMPTY_ROOT` (the only head a tree of size 0 can have). Raises `ProofError` saying what did not match.
    """
    _require_hash(old_root, "old root")
    _require_hash(new_root, "new root")
    _require_proof_hashes(proof)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} must be between 0 and the new size {new_size}: a log only grows")
    if old_size == 0 or old_size == new_size:
        _verify_trivial_consistency(old_size, new_size, old_root, new_root, proof)
        return
    want = _consistency_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(f"consistency proof has {len(proof)} hashes; sizes {old_size} -> {new_size} need {want}")
    fr, sr = _consistency_roots(old_size, new_size, old_root, proof)
    _check_root(fr, old_root, f"old root does not match the proof from size {old_size} to {new_size}")
    _check_root(sr, new_root, f"new root does not match the proof from size {old_size} to {new_size}")


def _verify_trivial_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    if proof:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} must be empty, has {len(proof)}")
    if old_size == 0:
        _check_root(EMPTY_ROOT, old_root, "old root of a tree of size 0 is not the empty tree's head")
    if old_size == new_size:
        _check_root(bytes(old_root), new_root, f"roots of the same size {new_size} differ")


def _consistency_roots(old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]) -> tuple[bytes, bytes]:
    """Steps 2-6 of RFC 9162 §2.1.4.2: the old and new roots the proof leads to (0 < old < new)."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: an exact power of two is its own seed
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = bytes(path[0])
    for c, on_left in _path(fn, sn, path[1:], "consistency proof", "the new root"):
        if on_left:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    return fr, sr


def _path(fn: int, sn: int, proof: Sequence[bytes], what: str, root: str) -> Iterator[tuple[bytes, bool]]:
    """The walk both RFC 9162 verifications share: each proof hash, and whether it is the left sibling."""
    for p in proof:
        if sn == 0:
            raise ProofError(f"{what} is longer than the path to {root}")
        on_left = bool(fn & 1) or fn == sn
        if on_left:
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        yield p, on_left
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"{what} is shorter than the path to {root}")
