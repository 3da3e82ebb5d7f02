"""What a run leaves behind: manifests and run records in the lake, row counts read back."""
