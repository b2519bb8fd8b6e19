"""Performance: reading PAP/RAP performance files, their tables and indicator links."""
