"""Random ids for requests and events: 128 bits of the OS's CSPRNG, drawn in blocks.

Every request gets an id and every decision an event id, so two ``getrandom``
calls per verify-otp. A system call costs far more inside a virtual machine, or
under load, than slicing bytes that are already here; one call now serves 256
ids. The bytes are the kernel's all the same, each handed out once: a forked
child drops the block it inherited (else parent and child would hand out the
same ids), and a lock keeps two threads from taking the same slice.
"""

from __future__ import annotations

import os
import threading

__all__ = ["random_hex"]

_ID_BYTES = 16
_BLOCK_BYTES = 256 * _ID_BYTES

_lock = threading.Lock()
_block = b""
_offset = 0


def random_hex() -> str:
    """128 random bits as 32 lowercase hex digits (like ``uuid4().hex``, all random)."""
    global _block, _offset
    with _lock:
        if _offset >= len(_block):
            _block, _offset = os.urandom(_BLOCK_BYTES), 0
        start = _offset
        _offset = start + _ID_BYTES
        block = _block
    return block[start : start + _ID_BYTES].hex()


def _forget_block() -> None:
    global _block, _offset
    _block, _offset = b"", 0


os.register_at_fork(after_in_child=_forget_block)
