"""Sharded TFRecords: naming, the Example layout, the writer, the manifest, the reader."""
