"""The report's figures: definitions, consolidation, provenance and publishing."""
