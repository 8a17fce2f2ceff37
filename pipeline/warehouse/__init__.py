"""The warehouse: tables (each with its grain) and the transactional loads."""
