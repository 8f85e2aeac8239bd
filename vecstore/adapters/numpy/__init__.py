"""The embedded store: exact cosine search over memory-mapped vectors, records on disk.

Its parts, from the top down:

* :mod:`.backend`: :class:`NumpyBackend`, the Backend protocol over the parts below; sharing
  (writers take turns, readers never block) and the commit cycle.
* :mod:`.writer`: what each write adds, merges and compacts; :mod:`.upgrade`: format 1 turned
  into format 2, resumably.
* :mod:`.state`: one committed manifest opened as an immutable state readers search.
* :mod:`.dense` (exact top k, int8 scan then fp32 rescoring; :mod:`.quantization` its codes)
  and :mod:`.keyword` (BM25 over :mod:`.postings`).
* :mod:`.records` (a segment's records, :mod:`.columns` its filter columns) in a :mod:`.table`
  file; :mod:`.vectors`, the append-only vector files.
* :mod:`.format2` (the current manifest and file names), :mod:`.format1` (the old one, read
  only), :mod:`.manifest` (what both share), :mod:`.catalog` (a store's collections),
  :mod:`.files` (file I/O both use: no link followed, every write durable).
"""

from vecstore.adapters.numpy.backend import NumpyBackend

__all__ = ["NumpyBackend"]
