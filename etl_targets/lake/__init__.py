"""The lake and the landing area as storage: everything below the luigi graph.

* :mod:`~etl_targets.lake.storage`: fsspec only (open by URL, strict
  ``exists``, the one streaming atomic writer, listings);
* :mod:`~etl_targets.lake.layout`: where every file lives (contract section 3);
* :mod:`~etl_targets.lake.context`: the build context (roots resolved once,
  the listing index, the read cache), held in a ``ContextVar``;
* :mod:`~etl_targets.lake.targets`: luigi targets over the context.
"""
