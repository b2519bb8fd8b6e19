"""Performance: Pandera models, families, codes, documents and indicator values."""
