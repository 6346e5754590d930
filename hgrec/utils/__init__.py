"""Small helpers with no dependency on the rest of hgrec (atomic writes, results files)."""
