"""Datasets in sd-scripts' folder-repeat layout: scan, check, bucket/step preview, prepare, caption tools."""
