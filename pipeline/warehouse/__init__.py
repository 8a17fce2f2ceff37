"""The warehouse: tables with their grains (schema), engines and locks (connect), the transactional loads (load)."""
