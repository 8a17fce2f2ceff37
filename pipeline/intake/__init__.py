"""Reading what the units sent: archive, safety checks, the workbook reader, parsing."""
