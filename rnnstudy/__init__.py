"""rnnstudy."""
