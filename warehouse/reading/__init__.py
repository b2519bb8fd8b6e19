"""Reading any source file as text cells: CSV (encoding, separator, header) and workbooks."""
