"""What operators run between loads: completeness, the problems summary, confirmations."""
