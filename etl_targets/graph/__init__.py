"""The luigi graph: task classes derived from declarations, and the build engine."""
