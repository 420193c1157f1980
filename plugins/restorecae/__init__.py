"""restorecae: restore damaged inscription glyphs (RestoreCAE-Zi)."""
